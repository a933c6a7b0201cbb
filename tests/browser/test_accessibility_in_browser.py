"""Basic accessibility, print and small-screen checks on the public pages, in a real browser.

These are not a full audit; they catch what most often breaks silently when templates change:
a lost landmark or label, a table without headers, controls in the printout, sideways scrolling
on a phone. Screenshots are saved (never compared) so a person can look at what was rendered.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect

pytestmark = pytest.mark.browser

PUBLIC_PAGES = [
    "/",
    "/processors",
    "/processors?country=DE",
    "/processors?q=United+States",  # matching entries, then the upcoming changes that match
    "/processors?q=nothing+matches+this",
    "/processors/changes",
    "/processors/versions",
    "/processors/versions/1",
    "/processors/diff",
    "/lists/website",
    "/processors/embed",
]

# Form controls a reader fills in, and whether each has a label with text: a <label for>, a
# wrapping <label>, aria-label or aria-labelledby.
UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
  .filter(el => {
    const labels = Array.from(el.labels || []).filter(label => label.textContent.trim());
    return labels.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby');
  })
  .map(el => el.outerHTML)"""

HEADING_LEVELS = """() => Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6'))
  .map(h => Number(h.tagName[1]))"""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PHONE: ViewportSize = {"width": 390, "height": 844}

PHONE_PAGES = [
    "/processors",  # upcoming changes
    "/processors?q=United+States",  # upcoming changes that match, after the entries
    "/processors/changes",  # upcoming changes
    "/processors/versions",  # the versions table
    "/processors/versions/1",
    "/processors/diff?from=1",
    "/lists/website",
    "/processors/embed",  # framed in a narrow column as often as on a phone
]

# The column headers of every table box wider than the screen lets it show.
CUT_OFF_TABLES = """() => Array.from(document.querySelectorAll('.table-wrap'))
  .filter(box => box.scrollWidth > box.clientWidth)
  .map(box => Array.from(box.querySelectorAll('thead th')).map(th => th.textContent.trim()).join(' | '))"""


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_page_structure_is_accessible(page: Page, path: str) -> None:
    """Screen-reader users move by landmarks, headings, labels and table headers; each page
    must offer all four, and its language, for them to find their way."""
    response = page.goto(path)
    assert response is not None and response.status == 200

    assert page.locator("html").get_attribute("lang")
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_have_count(1)

    levels: list[int] = page.evaluate(HEADING_LEVELS)
    assert levels[0] == 1, levels
    skipped = [(a, b) for a, b in pairwise(levels) if b > a + 1]
    assert skipped == [], f"heading levels skip: {levels}"

    assert page.evaluate(UNLABELLED_CONTROLS) == []

    for table in page.locator("table").all():
        expect(table.get_by_role("columnheader").first).to_be_visible()


def test_keyboard_users_can_skip_to_the_content(page: Page) -> None:
    """The first Tab shows a link that jumps past the site navigation to the main content."""
    page.goto("/processors")
    skip = page.get_by_role("link", name="Skip to content")
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    skip.press("Enter")
    expect(page).to_have_url(page.url.split("#")[0] + "#main")


def test_printed_list_leaves_out_the_controls(page: Page, tmp_path: Path) -> None:
    """On paper the filters and format links are useless; the entries and upcoming changes
    are what a printed (or saved-as-PDF) list is for."""
    page.goto("/processors")
    filters = page.get_by_role("search", name="Filter the list")
    formats = page.get_by_role("navigation", name="This list elsewhere")
    expect(filters).to_be_visible()
    expect(formats).to_be_visible()

    page.emulate_media(media="print")

    expect(filters).to_be_hidden()
    expect(formats).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("region", name="Upcoming changes")).to_be_visible()
    expect(page.locator("table.entries").first).to_be_visible()
    _save_screenshot(page, tmp_path / "processors-print.png")


def test_screenshots_of_the_list(page: Page, tmp_path: Path) -> None:
    """Proof that the page renders, kept for a person to look at; pixels are not compared."""
    page.goto("/processors")
    _save_screenshot(page, tmp_path / "processors.png")
    page.goto("/processors/changes")
    _save_screenshot(page, tmp_path / "changes.png")
    page.goto("/processors/diff?from=1")
    _save_screenshot(page, tmp_path / "diff.png")


def test_small_screen_stacks_the_entries(page: Page, tmp_path: Path) -> None:
    """On a phone each entry becomes a block whose values are introduced by their labels, and
    the page itself does not scroll sideways."""
    page.set_viewport_size(PHONE)
    page.goto("/processors")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    # With the column headers out of sight, each value is introduced by its label instead.
    purpose = page.locator("table.entries td[data-label='Purpose']").first
    label = purpose.evaluate("cell => getComputedStyle(cell, '::before').content")
    assert label == '"Purpose: "'
    _save_screenshot(page, tmp_path / "processors-phone.png")


@pytest.mark.parametrize("path", PHONE_PAGES)
def test_small_screen_cuts_nothing_off(page: Page, path: str) -> None:
    """A reader on a phone does not discover a table that scrolls sideways inside its box: the
    columns past the edge (the reason for an upcoming change, say) are simply not seen."""
    page.set_viewport_size(PHONE)
    page.goto(path)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate(CUT_OFF_TABLES) == []


def _save_screenshot(page: Page, path: Path) -> None:
    page.screenshot(path=path, full_page=True)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
