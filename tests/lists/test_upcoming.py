"""What a legal reader sees of a change before and after it takes effect: every detail of an
entry added, the before and after of each field changed, what an entry removed did, and the
upcoming changes of every list on the home page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from tests.conftest import NOW, Registry, entry

SCOPE = "Only where AI features are turned on."


@pytest.fixture
def announced(registry: Registry) -> Registry:
    """A published list with three announced changes: an addition with a scope, an update of two
    fields, and a removal."""
    registry.create_list()
    registry.publish(
        "sub-processors",
        entry("Stripe", locations=["IE"], purpose="Payment processing."),
        entry("Northwind", kind="subcontractor", locations=["CZ"], purpose="Contract engineers."),
    )
    registry.announce(
        "sub-processors",
        [
            (
                "add",
                None,
                entry(
                    "OpenAI",
                    legal_entity="OpenAI Ireland Limited",
                    locations=["US"],
                    transfer_mechanisms=["dpf"],
                    data_categories=["Customer content"],
                    scope=SCOPE,
                ),
            ),
            (
                "update",
                "stripe",
                entry(
                    "Stripe",
                    locations=["IE", "US"],
                    transfer_mechanisms=["scc"],
                    purpose="Payment processing.",
                ),
            ),
            ("retire", "northwind", None),
        ],
        effective_at=NOW + timedelta(days=45),
        reason="New AI features.",
    )
    return registry


def text(html: str) -> str:
    """A page's words as a reader reads them, one space between."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def pairs(html: str) -> list[str]:
    """The details shown, as "label: value" (the colon is the stylesheet's)."""
    return [f"{text(dt)}: {text(dd)}" for dt, dd in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html)]


def upcoming_box(page: str) -> str:
    start = page.index('id="upcoming-heading"')
    return page[start : page.index("</section>", start)]


def test_an_addition_shows_everything_a_reader_needs(announced: Registry, client: FlaskClient) -> None:
    box = pairs(upcoming_box(client.get("/processors").get_data(as_text=True)))
    for detail in (
        "Legal entity: OpenAI Ireland Limited",
        "Purpose: OpenAI does things for us.",
        f"Scope: {SCOPE}",
        "Categories of personal data: Customer content",
        "Processing locations: United States",
        "Transfer mechanisms: EU-US Data Privacy Framework",
    ):
        assert detail in box


def test_an_update_shows_the_before_and_after_of_each_changed_field(
    announced: Registry, client: FlaskClient
) -> None:
    box = upcoming_box(client.get("/processors").get_data(as_text=True))
    rows = {
        text(label): (text(before), text(after))
        for label, before, after in re.findall(
            r'<tr><th scope="row">(.*?)</th>'
            r"<td><del>(.*?)</del></td><td><ins>(.*?)</ins></td></tr>",
            box,
        )
    }
    assert rows == {
        "Processing locations": ("before: Ireland", "after: Ireland, United States"),
        "Transfer mechanisms": (
            "before: No transfer (processing within the EEA)",
            "after: Standard Contractual Clauses",
        ),
    }


def test_a_removal_says_what_the_entry_did(announced: Registry, client: FlaskClient) -> None:
    box = upcoming_box(client.get("/processors").get_data(as_text=True))
    removal = box[box.index("Removed: <strong>Northwind</strong>") :]
    assert pairs(removal)[:2] == ["Purpose: Contract engineers.", "Processing locations: Czechia"]


def test_the_change_log_keeps_the_details_once_applied(announced: Registry, client: FlaskClient) -> None:
    assert announced.apply_due(NOW + timedelta(days=46)) == 1
    log = client.get("/processors/changes").get_data(as_text=True)
    history = log[log.index('id="history-heading"') :]
    added = history[history.index("Added</span> <strong>OpenAI") :]
    assert pairs(added)[:3] == [
        "Legal entity: OpenAI Ireland Limited",
        "Purpose: OpenAI does things for us.",
        f"Scope: {SCOPE}",
    ]
    assert (
        "Changed Stripe Field Before After Processing locations before: Ireland after: Ireland, United States"
        in text(history)
    )
    removed = history[history.index("Removed</span> <strong>Northwind") :]
    assert pairs(removed)[0] == "Purpose: Contract engineers."


def test_the_home_page_shows_each_lists_upcoming_changes(announced: Registry, client: FlaskClient) -> None:
    home = client.get("/").get_data(as_text=True)
    coming = home[home.index('class="coming"') :]
    links = re.findall(r'<li><a href="(/processors#change-\d+)">([^<]+)</a>: takes effect', coming)
    assert len(links) == 3
    assert links[0][1] == "New sub-processor: OpenAI (United States)"
    page = client.get("/processors").get_data(as_text=True)
    for href, _ in links:
        assert f'id="{href.split("#")[1]}"' in page  # each link lands on its change
    assert "object by" in text(coming)


def test_a_list_with_nothing_announced_shows_no_upcoming_box(registry: Registry, client: FlaskClient) -> None:
    registry.create_list()
    registry.publish("sub-processors", entry("Stripe"))
    assert 'class="coming"' not in client.get("/").get_data(as_text=True)
    assert "upcoming-heading" not in client.get("/processors").get_data(as_text=True)
