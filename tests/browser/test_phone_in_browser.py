"""The public pages on a phone: nothing scrolls sideways, and a list's entries are cards.

At 375 CSS pixels wide (an iPhone's width) a table of six columns cannot fit; each entry row
becomes a card, its name on top and every value introduced by its label, while the column
headers stay in the page for screen readers. On a wide screen the same markup is a table.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.test_workflow_in_browser import demo_password, sign_in

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer, PageProblems

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
# Every public page of the demo a reader reaches from a notice: the list, a version, the change
# log, the versions, a diff, the home page, a document and its diff, the subscribe page.
PAGES = [
    "/processors",
    "/processors/versions/1",
    "/processors/changes",
    "/processors/versions",
    "/processors/diff?from=1",
    "/",
    "/documents/privacy-policy",
    "/documents/privacy-policy/diff",
    "/subscribe",
]
# The demo list page at 375 px was 6,206 px tall with the entries stacked as blocks (label
# above value) and measures 4,541 px as cards. The bound leaves room for a line or two more of
# text elsewhere on the page, and fails if the cards lose their compactness (the stacked layout
# is 1,665 px taller).
LIST_PAGE_MAX_HEIGHT_PX = 5_000

SIDEWAYS = "() => document.documentElement.scrollWidth - window.innerWidth"

# For each entry row: its box, its name cell's box, its cells' boxes and their ::before labels.
CARDS = """() => Array.from(document.querySelectorAll('table.entries tbody tr')).map(row => {
  const box = row.getBoundingClientRect();
  const style = getComputedStyle(row);
  const inner = box.width - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)
    - parseFloat(style.borderLeftWidth) - parseFloat(style.borderRightWidth);
  const name = row.querySelector('th[scope=row]').getBoundingClientRect();
  const cells = Array.from(row.querySelectorAll('td')).map(td => ({
    label: td.dataset.label,
    before: getComputedStyle(td, '::before').content,
    top: td.getBoundingClientRect().top,
    bottom: td.getBoundingClientRect().bottom,
  }));
  return {display: style.display, width: box.width, inner, name: {width: name.width, bottom: name.bottom}, cells};
})"""


@pytest.mark.parametrize("path", PAGES)
def test_no_page_scrolls_sideways_on_a_phone(page: Page, path: str) -> None:
    page.set_viewport_size(PHONE)
    response = page.goto(path)
    assert response is not None and response.status == 200
    assert page.evaluate(SIDEWAYS) <= 0, f"{path} is wider than the phone"


def test_each_entry_is_a_card_on_a_phone(page: Page, page_problems: PageProblems) -> None:
    """The name heads the card across its whole width; below it, one value per line, each
    introduced by its label; the column headers are out of sight but still read out."""
    page.set_viewport_size(PHONE)
    page.goto("/processors")
    cards = page.evaluate(CARDS)
    assert len(cards) >= 9
    for card in cards:
        assert card["display"] == "block", card
        assert card["width"] <= PHONE["width"]
        assert card["name"]["width"] >= card["inner"] - 1, card
        previous_bottom = card["name"]["bottom"]
        for cell in card["cells"]:
            assert cell["before"] == f'"{cell["label"]}: "', cell
            assert cell["top"] >= previous_bottom - 1, card
            previous_bottom = cell["bottom"]

    table = page.locator("table.entries").first
    header = table.locator("thead")
    assert header.evaluate("el => getComputedStyle(el).display") != "none"
    assert header.evaluate("el => el.getBoundingClientRect().height") <= 1
    expect(table.get_by_role("columnheader", name="Purpose")).to_have_count(1)
    expect(table.get_by_role("rowheader").first).to_be_visible()
    assert page_problems.console_errors == []


def test_the_list_page_is_compact_on_a_phone(page: Page) -> None:
    page.set_viewport_size(PHONE)
    page.goto("/processors")
    height = page.evaluate("() => document.documentElement.scrollHeight")
    assert height < LIST_PAGE_MAX_HEIGHT_PX


def test_the_entries_stay_a_table_on_a_wide_screen(page: Page) -> None:
    page.set_viewport_size(DESKTOP)
    page.goto("/processors")
    rows = page.locator("table.entries tbody tr")
    assert rows.count() >= 9
    assert set(rows.evaluate_all("rows => rows.map(row => getComputedStyle(row).display)")) == {"table-row"}
    expect(page.locator("table.entries").first.get_by_role("columnheader", name="Purpose")).to_be_visible()
    assert (
        page.locator("table.entries td").first.evaluate("td => getComputedStyle(td, '::before').content")
        == "none"
    )


def test_an_announced_update_shows_before_and_after_on_a_phone(
    scheduled_page: Page, scheduled_server: LiveServer, page_problems: PageProblems
) -> None:
    """An editor announces a new purpose for Datadog; on a phone its card in the upcoming box
    shows the old purpose struck through and the new one inserted."""
    page = scheduled_page
    old = "Application performance monitoring and log analysis."
    new = "Application performance monitoring, log analysis and uptime alerts."
    page.goto("/admin/lists/sub-processors")
    sign_in(page, "editor@example.com", demo_password(scheduled_server, "editor@example.com"))
    expect(page).to_have_url(re.compile(r"/admin/lists/sub-processors$"))
    page.locator("#entry-datadog").get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Purpose")).to_have_value(old)
    page.get_by_label("Purpose").fill(new)
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Datadog")

    page.get_by_role("link", name="Announce drafts").click()
    period = re.search(r"Notice period: (\d+) days", page.locator("main").inner_text())
    assert period is not None
    effective = (datetime.now(UTC) + timedelta(days=int(period.group(1)) + 3)).date()
    page.get_by_label(re.compile("Datadog")).check()
    page.get_by_label("Public reason").fill("Datadog now also sends our uptime alerts.")
    page.get_by_label("Effective date (UTC)").fill(effective.isoformat())
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name="Announce", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/notices/\d+$"))

    page.set_viewport_size(PHONE)
    page.goto("/processors")
    upcoming = page.get_by_role("region", name="Upcoming changes")
    row = upcoming.locator("tbody > tr").filter(has_text="Changed: Datadog")
    expect(row).to_have_count(1)
    field = row.locator("table.fields tbody tr").filter(has_text="Purpose")
    expect(field.locator("del")).to_contain_text(old)
    expect(field.locator("ins")).to_contain_text(new)
    assert field.locator("del").evaluate("el => getComputedStyle(el).textDecorationLine") == "line-through"
    assert row.evaluate("el => getComputedStyle(el).display") == "block"
    assert page.evaluate(SIDEWAYS) <= 0
    assert page_problems.console_errors == []
    assert page_problems.failed_requests == []


@pytest.mark.parametrize("path", ["/processors", "/documents/privacy-policy"])
def test_a_long_url_wraps_instead_of_widening_the_page(page: Page, path: str) -> None:
    """An entry's purpose or a document's paragraph may hold a long URL with no space to break
    at; on a phone it wraps within its box."""
    page.set_viewport_size(PHONE)
    page.goto(path)
    long_url = "https://processors.example/" + "averylongpathsegment" * 15
    page.locator("main td, main p").first.evaluate("(el, text) => { el.textContent = text; }", long_url)
    assert page.evaluate(SIDEWAYS) <= 0
