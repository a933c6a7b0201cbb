"""The public pages: stable and permanent URLs, the diff in the page and as text, the feeds,
conditional requests, and clear 4xx answers to bad input."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.documents import jobs, services
from registry.extensions import db
from tests.conftest import NOW
from tests.documents.conftest import EFFECTIVE, SLUG, Documents

A = "{http://www.w3.org/2005/Atom}"
URLS = [
    "/documents",
    f"/documents/{SLUG}",
    f"/documents/{SLUG}/revisions",
    f"/documents/{SLUG}/revisions/1",
    f"/documents/{SLUG}/revisions/2",
    f"/documents/{SLUG}/diff?from=1&to=2",
    f"/documents/{SLUG}/diff.txt?from=1&to=2",
    f"/documents/{SLUG}/feed.atom",
    f"/documents/{SLUG}/feed.rss",
]


def test_the_document_page_shows_the_revision_in_force(two_revisions: Documents, client: FlaskClient) -> None:
    page = client.get(f"/documents/{SLUG}").get_data(as_text=True)
    assert "Revision 2" in page and "We keep your email address and your name." in page
    assert "<h1>Privacy policy</h1>" in page
    assert f'href="/documents/{SLUG}/feed.atom" title="Privacy policy: revisions (Atom)"' in page
    assert 'type="application/rss+xml"' in page
    index = client.get("/documents").get_data(as_text=True)
    assert f'href="/documents/{SLUG}"' in index
    assert 'href="/documents"' in client.get("/").get_data(as_text=True)


def test_every_revision_keeps_its_permanent_url(two_revisions: Documents, client: FlaskClient) -> None:
    first = client.get(f"/documents/{SLUG}/revisions/1").get_data(as_text=True)
    assert "You may ask us to delete it." in first and "a later revision has replaced it" in first
    second = client.get(f"/documents/{SLUG}/revisions/2").get_data(as_text=True)
    assert "In force since" in second
    listing = client.get(f"/documents/{SLUG}/revisions").get_data(as_text=True)
    assert "Revision 1" in listing and "Revision 2" in listing and "Superseded" in listing


def test_the_word_diff_in_the_page(two_revisions: Documents, client: FlaskClient) -> None:
    page = client.get(f"/documents/{SLUG}/diff?from=1&to=2").get_data(as_text=True)
    assert 'address<ins><span class="visually-hidden">inserted: </span> and your name</ins>.' in page
    assert (
        '<del><span class="visually-hidden">deleted: </span>delete</del><ins><span class="visually-hidden">inserted: </span>correct</ins>'
        in page
    )
    assert "4 words inserted, 1 deleted." in page  # words: the full stop is not one
    # By default: the revision in force against the one before.
    assert client.get(f"/documents/{SLUG}/diff").get_data(as_text=True) == page


def test_the_unified_diff_as_text(two_revisions: Documents, client: FlaskClient) -> None:
    response = client.get(f"/documents/{SLUG}/diff.txt?from=1&to=2")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == (
        f"--- {SLUG}/revisions/1\n+++ {SLUG}/revisions/2\n@@ -1,5 +1,5 @@\n # Privacy policy\n \n"
        "-We keep your email address.\n+We keep your email address and your name.\n \n"
        "-You may ask us to delete it.\n+You may ask us to correct it.\n"
    )


def test_an_announced_revision_is_upcoming_with_its_diff(
    published: Documents, client: FlaskClient, app: Flask
) -> None:
    published.announce()
    page = client.get(f"/documents/{SLUG}").get_data(as_text=True)
    assert "Upcoming revision" in page and "Names, and correction." in page
    assert f'href="/documents/{SLUG}/diff?from=1&amp;to=2"' in page
    assert "You may ask us to delete it." in page  # still revision 1 in force
    assert client.get(f"/documents/{SLUG}/diff?from=1&to=2").status_code == 200
    with app.app_context():
        assert jobs.apply_due_revisions(lambda: EFFECTIVE) == 1
    page = client.get(f"/documents/{SLUG}").get_data(as_text=True)
    assert "Upcoming revision" not in page and "You may ask us to correct it." in page


@pytest.mark.parametrize("url", URLS)
def test_validators_and_304(two_revisions: Documents, client: FlaskClient, url: str) -> None:
    first = client.get(url)
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert "max-age" in first.headers["Cache-Control"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304


def test_a_new_revision_changes_the_etag(two_revisions: Documents, client: FlaskClient) -> None:
    etag = client.get(f"/documents/{SLUG}").headers["ETag"]
    two_revisions.announce("# Privacy policy\n\nThird.\n")
    response = client.get(f"/documents/{SLUG}", headers={"If-None-Match": etag})
    assert response.status_code == 200 and "Upcoming revision" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/documents/nope", 404),
        ("/documents/NOPE!", 404),
        (f"/documents/{'x' * 300}", 404),
        ("/documents/nope/revisions", 404),
        ("/documents/nope/feed.atom", 404),
        (f"/documents/{SLUG}/revisions/3", 404),
        (f"/documents/{SLUG}/revisions/0", 404),
        (f"/documents/{SLUG}/revisions/x", 400),
        (f"/documents/{SLUG}/revisions/-1", 400),
        (f"/documents/{SLUG}/revisions/99999999999", 400),
        (f"/documents/{SLUG}/diff?from=2&to=1", 400),
        (f"/documents/{SLUG}/diff?from=a&to=2", 400),
        (f"/documents/{SLUG}/diff?from=1&to=9", 404),
        (f"/documents/{SLUG}/diff.txt?from=2&to=1", 400),
        (f"/documents/{SLUG}/diff.txt?from=1&to=%00", 400),
    ],
)
def test_bad_input_is_a_clear_4xx(
    two_revisions: Documents, client: FlaskClient, url: str, status: int
) -> None:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)


def test_a_document_without_a_public_revision_is_not_found(documents: Documents, client: FlaskClient) -> None:
    documents.create()
    documents.draft()
    assert client.get(f"/documents/{SLUG}").status_code == 404
    assert SLUG not in client.get("/documents").get_data(as_text=True)


def test_the_atom_feed_has_one_entry_per_public_revision(
    two_revisions: Documents, client: FlaskClient, app: Flask
) -> None:
    two_revisions.announce("# Privacy policy\n\nThird.\n")
    body = client.get(f"/documents/{SLUG}/feed.atom").data
    feed = ET.fromstring(body)
    entries = feed.findall(f"{A}entry")
    assert [e.findtext(f"{A}title") for e in entries] == [
        f"Privacy policy: revision 3, effective {EFFECTIVE.date().isoformat()}",
        f"Privacy policy: revision 2, in effect since {NOW.date().isoformat()}",
        f"Privacy policy: revision 1, in effect since {NOW.date().isoformat()}",
    ]
    with app.app_context():
        revisions = services.public_revisions(db.session, services.get_document(db.session, SLUG))  # type: ignore[arg-type]
        assert [e.findtext(f"{A}id") for e in entries] == [f"urn:uuid:{r.uuid}" for r in revisions]
    links = [e.find(f"{A}link").get("href") for e in entries]  # type: ignore[union-attr]
    assert links[0] == f"https://registry.example/documents/{SLUG}/diff?from=2&to=3"
    assert links[2] == f"https://registry.example/documents/{SLUG}/revisions/1"
    # The same state gives the same bytes, whatever the cache holds.
    app.extensions["render_cache"].clear()
    assert client.get(f"/documents/{SLUG}/feed.atom").data == body


def test_the_rss_feed_parses_and_is_stable(two_revisions: Documents, client: FlaskClient, app: Flask) -> None:
    body = client.get(f"/documents/{SLUG}/feed.rss").data
    channel = ET.fromstring(body).find("channel")
    assert channel is not None
    items = channel.findall("item")
    assert len(items) == 2 and items[0].findtext("guid", "").startswith("urn:uuid:")
    assert "What changes: Names, and correction." in items[0].findtext("description", "")
    app.extensions["render_cache"].clear()
    assert client.get(f"/documents/{SLUG}/feed.rss").data == body


def test_a_withdrawn_revision_says_so_in_the_feed_and_page(
    published: Documents, client: FlaskClient, app: Flask
) -> None:
    from registry.documents import workflow
    from registry.documents.models import DocumentRevision

    revision_id = published.announce()
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        workflow.withdraw(db.session, revision, reason="We found a mistake.", now=NOW + timedelta(days=1))
        db.session.commit()
    feed = ET.fromstring(client.get(f"/documents/{SLUG}/feed.atom").data)
    assert (
        feed.findall(f"{A}entry")[0]
        .findtext(f"{A}title", "")
        .startswith("Withdrawn: Privacy policy revision 2")
    )
    page = client.get(f"/documents/{SLUG}/revisions/2").get_data(as_text=True)
    assert "Withdrawn" in page and "We found a mistake." in page
    assert "Upcoming revision" not in client.get(f"/documents/{SLUG}").get_data(as_text=True)


def test_hooks_for_subscriptions(published: Documents, app: Flask) -> None:
    revision_id = published.announce()
    with app.app_context():
        from registry.documents.models import DocumentRevision

        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        assert services.announced_revision_title(revision) == (
            f"Privacy policy: revision 2, effective {EFFECTIVE.date().isoformat()}"
        )
        assert services.diff_url(revision) == f"https://registry.example/documents/{SLUG}/diff?from=1&to=2"
        assert services.revision_url(revision) == f"https://registry.example/documents/{SLUG}/revisions/2"


def test_a_diff_between_two_named_revisions_keeps_its_validators(
    two_revisions: Documents, client: FlaskClient
) -> None:
    """Both texts are frozen once public, so the diff's ETag and Last-Modified may not move when
    the document does; it may be kept for a year."""
    url = f"/documents/{SLUG}/diff.txt?from=1&to=2"
    first = client.get(url)
    assert first.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    two_revisions.announce("# Privacy policy\n\nThird.\n")
    again = client.get(url)
    assert (again.headers["ETag"], again.headers["Last-Modified"]) == (etag, modified)
    assert again.data == first.data
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    # Without both numbers the address means "the latest change", which moves: no year-long cache.
    assert "immutable" not in client.get(f"/documents/{SLUG}/diff.txt").headers["Cache-Control"]
    assert client.get(f"/documents/{SLUG}/diff.txt?from=1&to=3").headers["ETag"] != etag


def test_the_text_comes_first_and_the_sign_up_form_after_it(
    two_revisions: Documents, client: FlaskClient
) -> None:
    page = client.get(f"/documents/{SLUG}").get_data(as_text=True)
    text = page.index('<article class="document-body"')
    form = page.index('<aside class="subscribe">')
    assert text < form
    # One h1, the document's title; the text's own headings sit below it.
    assert page.count("<h1") == 1
