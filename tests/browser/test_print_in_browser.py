"""The list as a legal team prints it for a DPA annex: every column on A4, no forms, and a
printout that says which version it is and where it lives for good.

Chromium prints the page to PDF as its print dialog would, and poppler's ``pdftotext`` reads the
PDF back, so the test sees what lands on paper (not what the stylesheet says should).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.checkers import pdf_text, words

pytestmark = pytest.mark.browser

LIST_PATH = "/processors"
COLUMNS = ["Name", "Purpose", "Personal data", "Processing locations", "Transfer mechanisms", "Since"]
# What only a screen reader of the page can use: the search and filters, the subscribe form,
# the "Object" buttons, the site's navigation and the sign-in link. ("Email address", the form's
# label, is also a category of personal data in the table, so the form is known by its others.)
SCREEN_ONLY = [
    "Filter the list",
    "All kinds",
    "All countries",
    "Apply filters",
    "Get notices of changes to",
    "How often",
    "We first send you a link to confirm",
    "More choices",
    "Skip to content",
    "Policies",
    "Sign in",
]

# The same, as elements: "Object" (the button) is also a word of the entries ("Object storage").
SCREEN_ONLY_ELEMENTS = [
    ".site-header",
    "form.filters",
    ".subscribe-form",
    "a.object",
    ".formats",
    ".site-footer .sign-in",
]

# Each entry as the screen shows it: its name, transfer mechanisms and since date.
ROWS = """() => Array.from(document.querySelectorAll('table.entries tbody tr')).map(row => ({
  name: row.querySelector('.name').textContent.trim(),
  mechanisms: row.querySelector('td[data-label="Transfer mechanisms"]').textContent.trim(),
  since: row.querySelector('td[data-label="Since"]').textContent.trim(),
}))"""


def printed_text(page: Page, pdftotext: str, folder: Path) -> str:
    """The page printed on A4 as the browser's dialog would (the stylesheet's @page wins), as text."""
    printout = page.pdf(format="A4", landscape=True, print_background=False, prefer_css_page_size=True)
    return pdf_text(pdftotext, printout, folder)


def current_version(page: Page) -> int:
    found = re.search(r"Version (\d+)", page.locator("main .meta").first.inner_text())
    assert found, "the list page names no version"
    return int(found.group(1))


def check_printout(page: Page, text: str, number: int) -> None:
    rows = page.evaluate(ROWS)
    assert rows, "the page shows no entries"
    flat = words(text)
    # A heading may wrap in its narrow column ("Processing" above "locations"): word by word.
    for column in COLUMNS:
        for word in column.split():
            assert re.search(rf"\b{word}\b", flat), f"column {column!r} is not on paper:\n{text}"
    for row in rows:
        assert row["name"] in flat, f"{row['name']} is not on paper:\n{text}"
        assert row["since"] in flat, f"{row['name']}: since {row['since']!r} is not on paper:\n{text}"
        for mechanism in row["mechanisms"].split(", "):
            for word in mechanism.split():
                assert word in flat, f"{row['name']}: {mechanism!r} is not on paper:\n{text}"
    for label in SCREEN_ONLY:
        assert label not in flat, f"{label!r} is printed:\n{text}"
    page.emulate_media(media="print")
    for selector in SCREEN_ONLY_ELEMENTS:
        for element in page.locator(selector).all():
            expect(element).to_be_hidden()
    page.emulate_media(media="screen")
    assert f"Version {number}," in flat
    # Absolute on PUBLIC_BASE_URL (the site's public address, not the test server's).
    assert re.search(rf"Permanent URL: https?://\S+/processors/versions/{number}(\s|$)", flat), text


def test_the_list_prints_every_column_and_its_permanent_url(
    page: Page, pdftotext: str, tmp_path: Path
) -> None:
    page.goto(LIST_PATH)
    number = current_version(page)
    check_printout(page, printed_text(page, pdftotext, tmp_path), number)


def test_a_version_prints_every_column_and_its_permanent_url(
    page: Page, pdftotext: str, tmp_path: Path
) -> None:
    page.goto(LIST_PATH)
    number = current_version(page) - 1
    page.goto(f"{LIST_PATH}/versions/{number}")
    check_printout(page, printed_text(page, pdftotext, tmp_path), number)


def test_what_the_printout_says_about_itself_is_not_on_screen(page: Page) -> None:
    for path in (LIST_PATH, f"{LIST_PATH}/changes", f"{LIST_PATH}/versions/1"):
        page.goto(path)
        expect(page.locator(".print-only")).to_have_count(1)
        expect(page.locator(".print-only")).to_be_hidden()
        # On paper it names a version and that version's permanent address.
        said = words(page.locator(".print-only").text_content() or "")
        assert re.search(r"Version (\d+), published .+ Permanent URL: \S+/processors/versions/\1$", said), (
            said
        )


def test_the_pdf_annex_of_a_version_holds_every_entry_and_the_hash_on_its_page(
    page: Page, pdftotext: str, tmp_path: Path
) -> None:
    """A reader opens a past version, follows "Download as PDF (DPA annex)", and the file holds
    every entry the page shows and, on every page, the SHA-256 the page shows."""
    page.goto(LIST_PATH)
    number = current_version(page) - 1
    page.goto(f"{LIST_PATH}/versions/{number}")
    names = [row["name"] for row in page.evaluate(ROWS)]
    assert names, "the version page shows no entries"
    digest = page.locator("code.digest").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", digest), digest
    # Served inline, the PDF opens in the browser's viewer, which keeps its bytes to itself: the
    # reader's "save" is the same address fetched again by the same browser profile.
    with page.expect_response(lambda r: r.url.endswith(f"/versions/{number}.pdf")) as answer:
        page.get_by_role("link", name="Download as PDF (DPA annex)").click()
    response = answer.value
    assert response.status == 200 and response.header_value("content-type") == "application/pdf"
    disposition = response.header_value("content-disposition")
    assert disposition == f'inline; filename="sub-processors-v{number}.pdf"'
    text = pdf_text(pdftotext, page.context.request.get(response.url).body(), tmp_path)
    flat = words(text)
    for name in names:
        assert name in flat, f"{name} is not in the annex:\n{text}"
    pages = re.findall(r"Page \d+ of (\d+)", flat)
    assert pages and flat.count(f"SHA-256 {digest}") == int(pages[0]), text
    assert f"Version {number}" in flat
