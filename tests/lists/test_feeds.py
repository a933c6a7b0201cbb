"""The Atom and RSS feeds: one entry per published notice, the same bytes for the same state."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.extensions import db
from registry.lists import services, workflow
from registry.lists.feeds import notice_summary, notice_title
from registry.lists.fields import processor_fields
from registry.lists.models import Notice, RegisterList
from tests.conftest import NOW, Registry, entry

A = "{http://www.w3.org/2005/Atom}"
EFFECTIVE = NOW + timedelta(days=45)  # 2027-02-24 12:00 UTC
LIST_FEEDS = [
    "/processors/feed.atom",
    "/processors/feed.rss",
    "/lists/sub-processors/feed.atom",
    "/lists/sub-processors/feed.rss",
]
FEEDS = [*LIST_FEEDS, "/feed.atom", "/feed.rss"]


@pytest.fixture
def published(registry: Registry) -> Registry:
    """The default list at version 1 with one announced addition."""
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"))
    registry.announce(
        "sub-processors",
        [("add", None, entry("Acme Analytics", locations=["US"], transfer_mechanisms=["dpf"]))],
        effective_at=EFFECTIVE,
        reason="Better product analytics.",
    )
    return registry


def _uuid(app: Flask, notice_id: int) -> str:
    with app.app_context():
        notice = db.session.get(Notice, notice_id)
        assert notice is not None
        return notice.uuid


def _withdraw(
    registry: Registry, notice_id: int, now: datetime, reason: str = "We chose another provider."
) -> int:
    with registry.app.app_context():
        notice = db.session.get(Notice, notice_id)
        assert notice is not None
        withdrawal = workflow.withdraw(db.session, notice, reason=reason, now=now)
        db.session.commit()
        return withdrawal.id


def _atom(client: FlaskClient, url: str = "/processors/feed.atom") -> ET.Element:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    return ET.fromstring(response.data)


def _rss(client: FlaskClient, url: str = "/processors/feed.rss") -> ET.Element:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    return ET.fromstring(response.data)


def _when(text: str | None) -> datetime:
    assert text is not None
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment


def test_atom_has_one_entry_per_notice(client: FlaskClient, published: Registry) -> None:
    feed = _atom(client)
    assert feed.findtext(f"{A}title") == "Sub-processors: notices · Example Cloud Ltd"
    assert feed.findtext(f"{A}id") == "https://registry.example/lists/sub-processors/feed.atom"
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")}
    assert links == {
        "self": "https://registry.example/processors/feed.atom",
        "alternate": "https://registry.example/processors",
    }
    assert feed.findtext(f"{A}author/{A}name") == "Example Cloud Ltd"
    [item] = feed.findall(f"{A}entry")
    with published.app.app_context():
        [notice_uuid] = db.session.scalars(select(Notice.uuid))
    assert item.findtext(f"{A}id") == f"urn:uuid:{notice_uuid}"
    assert (
        item.findtext(f"{A}title")
        == "New sub-processor: Acme Analytics (United States), effective 2027-02-24"
    )
    assert _when(item.findtext(f"{A}published")) == NOW
    assert _when(item.findtext(f"{A}updated")) == NOW
    assert _when(feed.findtext(f"{A}updated")) == NOW
    summary = item.findtext(f"{A}summary") or ""
    assert "Takes effect: 24 February 2027, 12:00 UTC." in summary
    assert "Object by: 23 February 2027, 12:00 UTC." in summary
    assert "Reason: Better product analytics." in summary
    assert "Transfer mechanism: EU-US Data Privacy Framework." in summary
    content = item.find(f"{A}content")
    assert content is not None and content.get("type") == "html"
    assert "<li>New sub-processor: Acme Analytics (United States)." in (content.text or "")
    # Not yet in effect: the entry points to the upcoming changes in the change log.
    link = item.find(f"{A}link")
    assert link is not None
    assert link.get("href") == "https://registry.example/processors/changes#upcoming-heading"
    assert client.get("/processors/changes").status_code == 200


def test_rss_has_the_same_items(client: FlaskClient, published: Registry) -> None:
    channel = _rss(client).find("channel")
    assert channel is not None
    assert channel.findtext("title") == "Sub-processors: notices · Example Cloud Ltd"
    assert channel.findtext("link") == "https://registry.example/processors"
    assert channel.findtext("lastBuildDate") == "Sun, 10 Jan 2027 12:00:00 +0000"
    [item] = channel.findall("item")
    assert item.findtext("title") == "New sub-processor: Acme Analytics (United States), effective 2027-02-24"
    guid = item.find("guid")
    assert guid is not None and guid.get("isPermaLink") == "false"
    assert guid.text == _atom(client).findtext(f"{A}entry/{A}id")
    assert (guid.text or "").startswith("urn:uuid:")
    assert item.findtext("pubDate") == "Sun, 10 Jan 2027 12:00:00 +0000"
    assert "Object by: 23 February 2027, 12:00 UTC." in (item.findtext("description") or "")


def test_every_list_and_all_lists(client: FlaskClient, published: Registry) -> None:
    published.create_list("website", "Website subcontractors")
    published.publish("website", entry("Plausible"))
    published.announce(
        "website",
        [("retire", "plausible", None)],
        effective_at=EFFECTIVE,
        now=NOW + timedelta(hours=1),
        reason="No more analytics.",
    )
    assert client.get("/processors/feed.atom").data == client.get("/lists/sub-processors/feed.atom").data
    assert client.get("/processors/feed.rss").data == client.get("/lists/sub-processors/feed.rss").data

    website = _atom(client, "/lists/website/feed.atom")
    [item] = website.findall(f"{A}entry")
    assert item.findtext(f"{A}title") == "Removed sub-processor: Plausible, effective 2027-02-24"
    assert item.find(f"{A}link").get("href") == (  # type: ignore[union-attr]
        "https://registry.example/lists/website/changes#upcoming-heading"
    )

    everything = _atom(client, "/feed.atom")
    assert everything.findtext(f"{A}title") == "All lists: notices · Example Cloud Ltd"
    titles = [e.findtext(f"{A}title") for e in everything.findall(f"{A}entry")]
    assert titles == [
        "Removed sub-processor: Plausible, effective 2027-02-24",
        "New sub-processor: Acme Analytics (United States), effective 2027-02-24",
    ]
    assert [c.get("term") for c in everything.iter(f"{A}category")] == ["website", "sub-processors"]
    assert _when(everything.findtext(f"{A}updated")) == NOW + timedelta(hours=1)
    assert len(_rss(client, "/feed.rss").findall("channel/item")) == 2


def test_same_state_same_bytes_and_stable_ids(
    client: FlaskClient, published: Registry, app: Flask, app_factory: Callable[..., Flask]
) -> None:
    for url in FEEDS:
        first = client.get(url)
        app.extensions["render_cache"].clear()  # rendered again, not served from the cache
        again = client.get(url)
        other = app_factory().test_client().get(url)  # another process
        assert first.data == again.data == other.data, url
        assert first.headers["ETag"] == again.headers["ETag"] == other.headers["ETag"], url

    ids = [e.findtext(f"{A}id") for e in _atom(client).findall(f"{A}entry")]
    published.announce(
        "sub-processors",
        [("retire", "microsoft-azure", None)],
        effective_at=EFFECTIVE,
        now=NOW + timedelta(days=1),
    )
    later = [e.findtext(f"{A}id") for e in _atom(client).findall(f"{A}entry")]
    assert len(later) == 2 and later[1:] == ids  # newest first; the old entry keeps its id


@pytest.mark.parametrize("url", FEEDS)
def test_conditional_requests(client: FlaskClient, published: Registry, url: str) -> None:
    first = client.get(url)
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert modified == "Sun, 10 Jan 2027 12:00:00 GMT"
    assert "public" in first.headers["Cache-Control"]

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    earlier = "Sat, 09 Jan 2027 12:00:00 GMT"
    assert client.get(url, headers={"If-Modified-Since": earlier}).status_code == 200


@pytest.mark.parametrize("url", FEEDS)
def test_a_new_notice_changes_the_etag(client: FlaskClient, published: Registry, url: str) -> None:
    before = client.get(url)
    with published.app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        revision = register_list.revision
    published.announce(
        "sub-processors",
        [("add", None, entry("Stripe"))],
        effective_at=EFFECTIVE,
        now=NOW + timedelta(days=1),
    )
    assert published.get_list("sub-processors").revision > revision  # announcing bumps the revision
    after = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.headers["Last-Modified"] == "Mon, 11 Jan 2027 12:00:00 GMT"
    assert after.data != before.data and b"Stripe" in after.data


def test_withdrawal_is_an_entry_and_updates_the_announcement(
    client: FlaskClient, published: Registry
) -> None:
    notice_id = published.announce(
        "sub-processors",
        [("add", None, entry("Stripe")), ("retire", "microsoft-azure", None)],
        effective_at=EFFECTIVE,
        now=NOW + timedelta(hours=1),
        reason="Payments.",
    )
    before = client.get("/processors/feed.atom")
    revision = published.get_list("sub-processors").revision
    withdrawn_at = NOW + timedelta(days=2)
    withdrawal_id = _withdraw(published, notice_id, withdrawn_at)
    assert published.get_list("sub-processors").revision > revision  # withdrawing bumps it too

    after = client.get("/processors/feed.atom", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    feed = ET.fromstring(after.data)
    assert _when(feed.findtext(f"{A}updated")) == withdrawn_at
    entries = {e.findtext(f"{A}id"): e for e in feed.findall(f"{A}entry")}
    assert len(entries) == 3
    withdrawal_uuid = _uuid(published.app, withdrawal_id)
    withdrawal = entries[f"urn:uuid:{withdrawal_uuid}"]
    assert withdrawal.findtext(f"{A}title") == (
        "Withdrawn: 2 changes to Sub-processors: Stripe added (Germany); Microsoft Azure removed "
        "(was to take effect 2027-02-24)"
    )
    assert _when(withdrawal.findtext(f"{A}published")) == withdrawn_at
    summary = withdrawal.findtext(f"{A}summary") or ""
    assert "Reason: We chose another provider." in summary
    assert (
        "- New sub-processor: Stripe (Germany)" in summary
        and "- Removed sub-processor: Microsoft Azure" in summary
    )
    anchor = f"https://registry.example/processors/changes#notice-{withdrawal_uuid}"
    assert withdrawal.find(f"{A}link").get("href") == anchor  # type: ignore[union-attr]
    assert f'id="notice-{withdrawal_uuid}"' in client.get("/processors/changes").get_data(as_text=True)

    # The announcement keeps its id and date, is updated, and says it was withdrawn.
    announcement = entries[f"urn:uuid:{_uuid(published.app, notice_id)}"]
    assert announcement.findtext(f"{A}title") == (
        "2 changes to Sub-processors: Stripe added (Germany); Microsoft Azure removed, effective 2027-02-24"
    )
    assert _when(announcement.findtext(f"{A}published")) == NOW + timedelta(hours=1)
    assert _when(announcement.findtext(f"{A}updated")) == withdrawn_at
    assert (announcement.findtext(f"{A}summary") or "").startswith(
        "Update: Withdrawn on 12 January 2027, 12:00 UTC: We chose another provider."
    )
    assert announcement.find(f"{A}link").get("href") == anchor  # type: ignore[union-attr]

    titles = [item.findtext("title") for item in _rss(client).findall("channel/item")]
    assert titles[0] == (
        "Withdrawn: 2 changes to Sub-processors: Stripe added (Germany); Microsoft Azure removed "
        "(was to take effect 2027-02-24)"
    )


def test_a_notice_in_effect_links_to_the_diff(client: FlaskClient, published: Registry) -> None:
    assert published.apply_due(EFFECTIVE) == 1
    feed = _atom(client)
    [item] = feed.findall(f"{A}entry")
    assert _when(item.findtext(f"{A}published")) == NOW
    assert _when(item.findtext(f"{A}updated")) == EFFECTIVE
    assert _when(feed.findtext(f"{A}updated")) == EFFECTIVE
    assert (item.findtext(f"{A}summary") or "").startswith(
        "Update: In effect since 24 February 2027, 12:00 UTC as version 2."
    )
    href = item.find(f"{A}link").get("href")  # type: ignore[union-attr]
    assert href == "https://registry.example/processors/diff?from=1&to=2"
    assert b"diff?from=1&amp;to=2" in client.get("/processors/feed.atom").data
    assert client.get(href.removeprefix("https://registry.example")).status_code == 200  # type: ignore[union-attr]


def test_only_published_notices(client: FlaskClient, registry: Registry) -> None:
    registry.create_list(requires_approval=True)
    registry.publish("sub-processors", entry("Microsoft Azure"))
    before = client.get("/processors/feed.atom")
    registry.announce("sub-processors", [("add", None, entry("Stripe"))], effective_at=EFFECTIVE)
    # Awaiting approval: nothing is public, the feed is unchanged.
    after = client.get("/processors/feed.atom")
    assert after.data == before.data and after.headers["ETag"] == before.headers["ETag"]
    assert ET.fromstring(after.data).findall(f"{A}entry") == []
    assert b"Stripe" not in client.get("/feed.rss").data


def test_unknown_list_is_404(client: FlaskClient, published: Registry) -> None:
    for url in ("/lists/nope/feed.atom", "/lists/nope/feed.rss", "/lists/Nope/feed.rss"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "no list called" in response.get_data(as_text=True)


NASTY = "<script>&\"'Acme"


def test_names_are_escaped(client: FlaskClient, registry: Registry) -> None:
    registry.create_list()
    registry.announce(
        "sub-processors",
        [("add", None, entry(NASTY, id="acme", locations=["US"], purpose="Tracks <b>you</b> & more."))],
        effective_at=EFFECTIVE,
        reason="Because <i>we</i> said so & more.",
    )
    for url in FEEDS:
        body = client.get(url).data
        assert b"<script>" not in body and b"<b>" not in body and b"<i>" not in body, url
        ET.fromstring(body)  # well-formed

    item = _atom(client).find(f"{A}entry")
    assert item is not None
    # Text elements hold the name as written; the HTML content holds it escaped for HTML.
    assert item.findtext(f"{A}title") == f"New sub-processor: {NASTY} (United States), effective 2027-02-24"
    assert f"New sub-processor: {NASTY} (United States)" in (item.findtext(f"{A}summary") or "")
    content = item.findtext(f"{A}content") or ""
    assert html.escape(NASTY) in content and NASTY not in content
    assert html.escape("Tracks <b>you</b> & more.") in content

    rss_item = _rss(client).find("channel/item")
    assert rss_item is not None
    assert rss_item.findtext("title") == f"New sub-processor: {NASTY} (United States), effective 2027-02-24"
    description = rss_item.findtext("description") or ""
    assert html.escape(NASTY) in description and NASTY not in description
    assert html.escape("Because <i>we</i> said so & more.") in description


def test_empty_feeds_are_valid(client: FlaskClient, registry: Registry) -> None:
    for url in ("/feed.atom", "/feed.rss"):  # no list at all
        assert client.get(url).status_code == 200
    assert ET.fromstring(client.get("/feed.atom").data).findall(f"{A}entry") == []

    registry.create_list(now=NOW - timedelta(days=3))
    for url in FEEDS:
        response = client.get(url)
        assert response.status_code == 200, url
        ET.fromstring(response.data)
    feed = _atom(client)
    assert feed.findall(f"{A}entry") == []
    assert _when(feed.findtext(f"{A}updated")) == NOW - timedelta(days=3)
    channel = _rss(client).find("channel")
    assert channel is not None and channel.findall("item") == []
    assert channel.findtext("description")


def test_pages_link_to_the_feeds(client: FlaskClient, published: Registry) -> None:
    page = client.get("/processors").get_data(as_text=True)
    head = page.split("</head>")[0]
    assert '<link rel="alternate" type="application/atom+xml" href="/processors/feed.atom"' in head
    assert '<link rel="alternate" type="application/rss+xml" href="/processors/feed.rss"' in head
    body = page.split("</head>")[1]
    assert 'href="/processors/feed.atom"' in body and 'href="/processors/feed.rss"' in body

    changes = client.get("/processors/changes").get_data(as_text=True).split("</head>")[0]
    assert 'type="application/atom+xml" href="/processors/feed.atom"' in changes

    published.create_list("website", "Website subcontractors")
    assert 'href="/lists/website/feed.rss"' in client.get("/lists/website").get_data(as_text=True)

    index = client.get("/").get_data(as_text=True)
    head, body = index.split("</head>")
    assert '<link rel="alternate" type="application/atom+xml" href="/feed.atom"' in head
    assert '<link rel="alternate" type="application/rss+xml" href="/feed.rss"' in head
    assert 'href="/feed.atom"' in body and 'href="/feed.rss"' in body


# --- the words, without a request -------------------------------------------------------------


@pytest.fixture
def register_list(session: Session) -> RegisterList:
    register_list = services.create_list(session, slug="sub-processors", title="Sub-processors", now=NOW)
    changes = [
        workflow.draft_change(session, register_list, "add", fields=entry(name), now=NOW)
        for name in ("Microsoft Azure", "Northwind")
    ]
    workflow.publish_first_version(session, register_list, changes, reason="First.", now=NOW)
    session.commit()
    return register_list


def _announce(
    session: Session, register_list: RegisterList, *drafts: tuple[str, str | None, dict | None]
) -> Notice:
    changes = [
        workflow.draft_change(session, register_list, action, processor=target, fields=fields, now=NOW)
        for action, target, fields in drafts
    ]
    return workflow.announce(session, register_list, changes, reason="Why.", effective_at=EFFECTIVE, now=NOW)


def test_titles_say_what_changes(session: Session, register_list: RegisterList) -> None:
    azure = services.entry_by_slug(session, register_list, "microsoft-azure")
    assert azure is not None
    moved = {**processor_fields(azure), "locations": ["DE", "US"], "purpose": "Hosting."}
    cases = [
        (
            ("add", None, entry("Acme", locations=["US", "IE"])),
            "New sub-processor: Acme (United States, Ireland)",
        ),
        (("add", None, entry("Crew", kind="subcontractor")), "New subcontractor: Crew (Germany)"),
        (
            ("update", "microsoft-azure", moved),
            "Changed sub-processor: Microsoft Azure (purpose, processing locations)",
        ),
        (("retire", "northwind", None), "Removed sub-processor: Northwind"),
    ]
    for drafts, words in cases:
        notice = _announce(session, register_list, drafts)
        assert notice_title(notice) == f"{words}, effective 2027-02-24"
        session.rollback()

    replaced = _announce(
        session, register_list, ("replace", "northwind", entry("Southwind", locations=["FR"]))
    )
    assert (
        notice_title(replaced)
        == "Replaced sub-processor: Northwind by Southwind (France), effective 2027-02-24"
    )
    session.rollback()

    several = _announce(
        session,
        register_list,
        ("add", None, entry("Acme")),
        ("retire", "northwind", None),
        ("add", None, entry("B")),
    )
    assert notice_title(several) == (
        "3 changes to Sub-processors: Acme added (Germany); Northwind removed; B added (Germany), "
        "effective 2027-02-24"
    )
    withdrawal = workflow.withdraw(session, several, reason="Not now.", now=NOW + timedelta(days=1))
    assert (
        notice_title(withdrawal) == "Withdrawn: 3 changes to Sub-processors: Acme added (Germany); "
        "Northwind removed; B added (Germany) (was to take effect 2027-02-24)"
    )


def test_summary_gives_dates_reason_and_changes(session: Session, register_list: RegisterList) -> None:
    notice = _announce(
        session, register_list, ("add", None, entry("Acme", locations=["US"], transfer_mechanisms=["scc"]))
    )
    assert notice_summary(notice) == (
        "Takes effect: 24 February 2027, 12:00 UTC.\n"
        "Object by: 23 February 2027, 12:00 UTC.\n"
        "Reason: Why.\n"
        "Changes to Sub-processors:\n"
        "- New sub-processor: Acme (United States). Purpose: Acme does things for us. "
        "Transfer mechanism: Standard Contractual Clauses."
    )
    withdrawal = workflow.withdraw(session, notice, reason="Not now.", now=NOW + timedelta(days=1))
    assert notice_summary(withdrawal).splitlines() == [
        "Withdrawn on 11 January 2027, 12:00 UTC: the changes to Sub-processors announced on "
        "10 January 2027, 12:00 UTC will not take effect on 24 February 2027, 12:00 UTC.",
        "Reason: Not now.",
        "Withdrawn:",
        "- New sub-processor: Acme (United States). Purpose: Acme does things for us. "
        "Transfer mechanism: Standard Contractual Clauses.",
    ]
