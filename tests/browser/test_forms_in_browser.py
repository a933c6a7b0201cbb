"""The entry form as an editor fills it in chromium: "Germ" typed in a country box is offered
"Germany" by the type-ahead over country names (a ``<datalist>``, no script of ours), the form is
submitted, and the draft holds the country's ISO code. A refused form starts with its error summary, focused.

These tests use ``scheduled_server``: they add drafts to its list.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_workflow_in_browser import EDITOR, LIST_SLUG, demo_password, sign_in

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

NAME = "Atlas Geocoding"


def _open_the_entry_form(page: Page, server: LiveServer) -> None:
    page.goto(f"/admin/lists/{LIST_SLUG}/new-entry")
    sign_in(page, EDITOR, demo_password(server, EDITOR))
    expect(page.get_by_role("heading", level=1)).to_have_text("Add an entry to Sub-processors")


def test_a_country_is_picked_by_its_name_and_stored_as_its_code(
    scheduled_page: Page, scheduled_server: LiveServer
) -> None:
    page = scheduled_page
    _open_the_entry_form(page, scheduled_server)
    page.get_by_label("Name", exact=True).fill(NAME)
    page.get_by_label("Purpose").fill("Turning addresses into coordinates.")
    page.get_by_label("Categories of personal data").fill("Postal address")
    page.get_by_role("group", name="Transfer mechanisms").get_by_label(
        "No transfer (processing within the EEA)"
    ).check()

    box = page.get_by_label("Processing locations, country 1")
    expect(box).to_have_attribute("list", "country-names")
    # The type-ahead's choices for what was typed: the datalist's options starting with it.
    box.press_sequentially("Germ")
    offered = page.locator("#country-names option").evaluate_all(
        "(options, typed) => options.map(o => o.value).filter(v => v.toLowerCase().startsWith(typed))",
        "germ",
    )
    assert offered == ["Germany"]
    # Picking a suggestion puts its value in the box. Headless chromium draws no suggestion
    # popup to click (ArrowDown and Enter leave "Germ"), so the pick is the offered value filled in.
    box.fill(offered[0])
    expect(box).to_have_value("Germany")

    page.get_by_role("button", name="Save draft").click()
    expect(page).to_have_url(re.compile(rf"/admin/lists/{LIST_SLUG}$"))
    expect(page.get_by_role("status")).to_contain_text(f"Drafted: New sub-processor: {NAME} (Germany)")

    with closing(sqlite3.connect(scheduled_server.database_path, timeout=10)) as connection:
        row = connection.execute(
            "SELECT proposed FROM changes WHERE status = 'draft' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    proposed = json.loads(row[0])
    assert proposed["name"] == NAME and proposed["locations"] == ["DE"]


def test_a_refused_form_starts_with_its_focused_error_summary(
    scheduled_page: Page, scheduled_server: LiveServer
) -> None:
    page = scheduled_page
    _open_the_entry_form(page, scheduled_server)
    page.get_by_label("Processing locations, country 1").fill("Narnia")
    page.get_by_role("button", name="Save draft").click()

    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.get_by_role("alert").filter(has_text="There are")
    expect(summary).to_be_focused()
    link = summary.get_by_role("link", name=re.compile(r"^There is no country called 'Narnia'"))
    link.click()
    expect(page.get_by_label("Processing locations, country 1")).to_be_focused()
    expect(page.get_by_label("Processing locations, country 1")).to_have_value("Narnia")
