"""A subscriber's rights over their data, in chromium: ask for a link to the manage page by
email, see what is held there, download it as JSON, and delete it.

The subscriber is the demo's (``subscriber@example.com``), who has been sent the demo's upcoming
notice, so there is a history to see. Emails are ``.eml`` files written by ``flask run-jobs``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_subscribing_in_browser import link_path, mail_to

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer, PageProblems

pytestmark = pytest.mark.browser

ADDRESS = "subscriber@example.com"  # registry/subscriptions/demo.py


def test_see_download_and_delete_your_data(
    page: Page, live_server: LiveServer, page_problems: PageProblems
) -> None:
    # Lost the link: the subscribe page leads to a form that emails a fresh one.
    page.goto("/subscribe")
    page.get_by_role("link", name="Get a link to manage it by email").click()
    expect(page.get_by_role("heading", name="Manage your subscription")).to_be_visible()
    page.get_by_label("Email address").fill(ADDRESS)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    live_server.flask("run-jobs")
    [link_email] = [m for m in mail_to(live_server, ADDRESS) if "link to manage" in m["Subject"]]
    manage_path = link_path(link_email, "/subscription/")

    page.goto(manage_path)
    expect(page.get_by_role("heading", name="Your subscription")).to_be_visible()
    data = page.get_by_role("region", name="Your data", exact=True)
    expect(page.get_by_text(ADDRESS)).to_be_visible()
    expect(data).to_contain_text("Sub-processors")
    # The demo's upcoming change was sent to this address: the notice shows, with its status.
    expect(data.get_by_role("row").filter(has_text="effective").first).to_contain_text("Sent")

    with page.expect_download() as downloading:
        data.get_by_role("link", name="Download your data (JSON)").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".json")
    exported = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert exported["subscriber"]["email"] == ADDRESS
    assert exported["subscriber"]["status"] == "confirmed"
    assert [s["slug"] for s in exported["subscriptions"]] == ["sub-processors"]
    assert any(n["kind"] == "notice" and n["status"] == "sent" for n in exported["notifications"])

    # Deleting takes a second step, which says what will happen.
    page.get_by_role("link", name="Delete my data").click()
    expect(page.get_by_role("heading", name="Delete your data")).to_be_visible()
    expect(page.get_by_text("This cannot be undone")).to_be_visible()
    page.get_by_role("button", name="Delete my data").click()
    expect(page.get_by_role("heading", name="Your data is deleted")).to_be_visible()
    assert page_problems.console_errors == []

    # The link from the email no longer opens anything.
    page.goto(manage_path)
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
