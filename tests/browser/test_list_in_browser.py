"""The list page as a reader uses it: what it shows, and narrowing it with the filter form.

The demo's dates are relative to the day it was loaded, so dates are read from the page (and
from the JSON the same server publishes) rather than written into the tests.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Locator, Page, expect

from registry.publishing.wording import deadline_text

if TYPE_CHECKING:
    from tests.browser.conftest import PageProblems

pytestmark = pytest.mark.browser

LIST_PATH = "/processors"
ENTRY_COLUMNS = [
    "Name",
    "Purpose",
    "Personal data",
    "Processing locations",
    "Transfer mechanism",
    "Since",
]


def entry_rows(page: Page) -> Locator:
    """The rows of every group's table: one per processor in effect."""
    return page.locator("table.entries tbody tr")


def shown_names(page: Page) -> list[str]:
    return [name.strip() for name in page.locator("table.entries tbody tr .name").all_text_contents()]


def published(page: Page) -> dict[str, Any]:
    """The list as the same server publishes it in JSON: the truth the HTML must agree with."""
    response = page.request.get(f"{LIST_PATH}.json")
    assert response.ok, response.status
    document: dict[str, Any] = response.json()
    return document


def with_query(parameter: str) -> re.Pattern[str]:
    """The list page's URL carrying ``parameter`` (e.g. ``country=DE``) among its filters."""
    return re.compile(rf"{LIST_PATH}\?(.*&)?{re.escape(parameter)}(&|$)")


def apply_filters(page: Page, expected: str) -> None:
    """Press "Apply filters" and wait until the filtered page, whose URL carries ``expected``,
    has loaded: reading rows any earlier could read the page being left."""
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(with_query(expected))


def clear_filters(page: Page) -> None:
    page.get_by_role("link", name="Clear filters").click()
    page.wait_for_url(re.compile(rf"{LIST_PATH}\??$"))


def test_page_loads_cleanly_with_its_stylesheet(page: Page, page_problems: PageProblems) -> None:
    """An unstyled page or a blocked resource (the CSP forbids inline styles) looks broken to a
    reader even when the HTML is right, so the page must load with no errors at all."""
    response = page.goto(LIST_PATH)
    assert response is not None and response.status == 200
    expect(page.locator("form.filters")).to_have_css("display", "flex")
    assert page_problems.console_errors == []
    assert page_problems.failed_requests == []


def test_list_shows_heading_upcoming_change_and_groups(page: Page) -> None:
    """The reader's first questions: which list, what is about to change and when, who is on it."""
    page.goto(LIST_PATH)
    expect(page).to_have_title(re.compile(r"^Sub-processors · "))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sub-processors")

    upcoming = page.get_by_role("region", name="Upcoming changes")
    expect(upcoming).to_be_visible()
    expect(upcoming.get_by_role("columnheader")).to_have_text(
        ["Change", "Takes effect", "Object by", "Reason"]
    )
    openai = upcoming.get_by_role("row").filter(has_text="OpenAI")
    expect(openai).to_have_count(1)
    expect(openai.get_by_role("rowheader")).to_contain_text("New: OpenAI")
    takes_effect = openai.locator("td[data-label='Takes effect'] time")
    effective_at = datetime.fromisoformat(takes_effect.get_attribute("datetime") or "")
    # The demo announces it to take effect three weeks after it is loaded.
    assert timedelta(days=14) < effective_at - datetime.now(UTC) < timedelta(days=28)
    expect(takes_effect).to_have_text(f"{effective_at.day} {effective_at:%B %Y}")
    # The deadline reads as the last day it is open (or its exact time off midnight), never as
    # "16 December, 00:00" for the end of the 15th; the attribute keeps the exact moment.
    object_by = openai.locator("td[data-label='Object by'] time")
    deadline = datetime.fromisoformat(object_by.get_attribute("datetime") or "")
    assert deadline < effective_at
    expect(object_by).to_have_text(deadline_text(deadline))

    document = published(page)
    names = sorted(entry["name"] for entry in document["processors"])
    assert sorted(shown_names(page)) == names
    # Announced, not yet in effect: it must not be listed as a current processor.
    assert "OpenAI" not in names

    groups = {
        "subprocessor": "Third-party sub-processors",
        "subcontractor": "Subcontractors",
        "affiliate": "Affiliates",
    }
    for kind, title in groups.items():
        count = sum(1 for entry in document["processors"] if entry["kind"] == kind)
        group = page.get_by_role("region", name=re.compile(rf"^{title}\b"))
        if count == 0:
            expect(group).to_have_count(0)
            continue
        expect(group.get_by_role("heading", level=2)).to_have_text(f"{title} ({count})")
        expect(group.get_by_role("columnheader")).to_have_text(ENTRY_COLUMNS)
        expect(group.locator("tbody tr")).to_have_count(count)


def test_filter_by_processing_location(page: Page) -> None:
    """Choosing a country keeps only processors that process data there, and says how many."""
    page.goto(LIST_PATH)
    total = entry_rows(page).count()
    expect(page.locator("table.entries").get_by_text("Twilio SendGrid")).to_have_count(1)
    expect(page.get_by_role("status")).to_have_count(0)

    page.get_by_label("Processing location", exact=True).select_option(label="Germany")
    apply_filters(page, "country=DE")

    expect(page.get_by_label("Processing location", exact=True)).to_have_value("DE")
    rows = entry_rows(page)
    shown = rows.count()
    assert 0 < shown < total
    for locations in rows.locator("td[data-label='Processing locations']").all_text_contents():
        assert "Germany" in [name.strip() for name in locations.split(",")], locations
    expect(page.get_by_role("status")).to_have_text(f"Showing {shown} of {total} entries.")
    # Twilio SendGrid processes in the United States only.
    expect(page.locator("table.entries").get_by_text("Twilio SendGrid")).to_have_count(0)


def test_search_by_text(page: Page) -> None:
    """Free text finds what a reader remembers ("the payment one"), submitted with Enter."""
    page.goto(LIST_PATH)
    total = entry_rows(page).count()
    search = page.get_by_label("Search")
    search.fill("payment")
    search.press("Enter")
    page.wait_for_url(with_query("q=payment"))

    expect(search).to_have_value("payment")
    expect(entry_rows(page)).to_have_count(1)
    assert shown_names(page) == ["Stripe"]
    expect(page.get_by_role("status")).to_have_text(f"1 of {total} entries matches “payment”.")


def search_for(page: Page, text: str) -> None:
    """Type ``text`` into the search box and submit the form, as a reader would."""
    search = page.get_by_label("Search")
    search.fill(text)
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(with_query("q=" + text.replace(" ", "+")))


def in_united_states(entry: dict[str, Any]) -> bool:
    """What the page shows as "United States": a processing location or the corporate one."""
    return "US" in entry["locations"] or entry["corporate_location"] == "US"


@pytest.mark.parametrize("typed", ["United States", "united states"])
def test_search_by_country_name_finds_entries_and_upcoming_ones(page: Page, typed: str) -> None:
    """A reader types the country as the page writes it, not its code: every entry shown in or
    from the United States is found, and so is the announced addition that will be."""
    page.goto(LIST_PATH)
    total = entry_rows(page).count()
    expected = sorted(entry["name"] for entry in published(page)["processors"] if in_united_states(entry))
    assert 0 < len(expected) < total

    search_for(page, typed)

    expect(page.get_by_label("Search")).to_have_value(typed)
    expect(entry_rows(page)).to_have_count(len(expected))
    assert sorted(shown_names(page)) == expected
    for row in entry_rows(page).all():
        expect(row).to_contain_text("United States")
    expect(page.get_by_role("status")).to_have_text(
        f"{len(expected)} of {total} entries match “{typed}”. 1 upcoming change matches."
    )
    # OpenAI processes in the United States once its addition takes effect: found, as upcoming.
    upcoming = page.get_by_role("region", name="Upcoming changes that match")
    openai = upcoming.get_by_role("row").filter(has_text="OpenAI")
    expect(openai.get_by_role("rowheader")).to_contain_text("New: OpenAI")
    expect(openai.locator("td[data-label='Takes effect'] time")).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-\d{2}-\d{2}T")
    )
    assert "OpenAI" not in shown_names(page)


def test_search_by_label_works_without_javascript(no_js_page: Page) -> None:
    """The search runs on the server: a mechanism's label finds its entries with scripts off."""
    page = no_js_page
    page.goto(LIST_PATH)
    search_for(page, "Standard Contractual Clauses")
    names = shown_names(page)
    assert names, "nothing found for a mechanism the list uses"
    for cell in page.locator("table.entries td[data-label='Transfer mechanism']").all_text_contents():
        assert cell.strip() == "Standard Contractual Clauses"


def test_search_without_match_says_so(page: Page) -> None:
    """An empty result must read as "nothing matches", not as an empty list, and offer a way back."""
    page.goto(LIST_PATH)
    total = entry_rows(page).count()
    page.get_by_label("Search").fill("no such processor anywhere")
    apply_filters(page, "q=no+such+processor+anywhere")

    expect(entry_rows(page)).to_have_count(0)
    expect(page.get_by_role("status")).to_have_text("No entry matches “no such processor anywhere”.")
    expect(page.locator("p.empty")).to_have_text(
        f"No entry matches “no such processor anywhere”. Clear the search to see all {total} entries."
    )
    page.get_by_role("link", name="Clear the search").click()
    page.wait_for_url(re.compile(rf"{LIST_PATH}$"))
    expect(entry_rows(page)).to_have_count(total)


def test_filter_by_kind(page: Page) -> None:
    """Choosing a kind shows that group only."""
    page.goto(LIST_PATH)
    page.get_by_label("Kind", exact=True).select_option(label="Affiliate")
    apply_filters(page, "kind=affiliate")

    expect(page.get_by_role("region", name=re.compile(r"^Affiliates\b"))).to_be_visible()
    expect(page.get_by_role("region", name=re.compile(r"^Third-party sub-processors\b"))).to_have_count(0)
    expected = sorted(
        entry["name"] for entry in published(page)["processors"] if entry["kind"] == "affiliate"
    )
    assert sorted(shown_names(page)) == expected


def test_clear_filters_restores_everything(page: Page) -> None:
    """After narrowing the list, one link brings the whole list back with empty controls."""
    page.goto(LIST_PATH)
    total = entry_rows(page).count()
    page.get_by_label("Processing location", exact=True).select_option(label="Germany")
    page.get_by_label("Search").fill("monitoring")
    apply_filters(page, "country=DE")
    assert 0 < entry_rows(page).count() < total

    clear_filters(page)

    expect(entry_rows(page)).to_have_count(total)
    expect(page.get_by_role("status")).to_have_count(0)
    expect(page.get_by_role("link", name="Clear filters")).to_have_count(0)
    expect(page.get_by_label("Processing location", exact=True)).to_have_value("")
    expect(page.get_by_label("Search")).to_have_value("")


def test_filters_work_without_javascript(no_js_page: Page) -> None:
    """The filters are a plain GET form, so readers without JavaScript can use them too."""
    page = no_js_page
    page.goto(LIST_PATH)
    total = entry_rows(page).count()
    page.get_by_label("Processing location", exact=True).select_option(label="Germany")
    apply_filters(page, "country=DE")

    shown = entry_rows(page).count()
    assert 0 < shown < total
    expect(page.get_by_role("status")).to_have_text(f"Showing {shown} of {total} entries.")

    clear_filters(page)
    expect(entry_rows(page)).to_have_count(total)
