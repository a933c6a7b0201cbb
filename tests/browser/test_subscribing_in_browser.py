"""A subscriber's journey in chromium: sign up on the list page, confirm from the email, change
the choices on the manage page, and leave with the unsubscribe button.

Emails go where ``make run`` puts them without a mail server: ``.eml`` files in the instance
folder, written by ``flask run-jobs`` as cron would run it. Links in them are absolute on
``PUBLIC_BASE_URL``; the test follows their paths on the live server.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer, PageProblems

pytestmark = pytest.mark.browser

ADDRESS = "journey@example.org"


def mail_to(server: LiveServer, address: str) -> list[EmailMessage]:
    """Every email written for ``address``, oldest first."""
    messages = []
    for path in sorted((server.instance_path / "mail").glob("*.eml"), key=lambda p: p.stat().st_mtime):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            messages.append(message)  # type: ignore[arg-type]
    return messages


def link_path(message: EmailMessage, pattern: str) -> str:
    """The path of the first link in the email's text matching ``pattern``."""
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    match = re.search(rf"https?://\S+?({pattern}\S*)", text)
    assert match, f"no link matching {pattern} in:\n{text}"
    return urlsplit(match.group(0)).path


def test_subscribe_confirm_manage_and_unsubscribe(
    page: Page, live_server: LiveServer, page_problems: PageProblems
) -> None:
    page.goto("/processors")
    form = page.locator("form.subscribe-form")
    form.get_by_label("Email address").fill(ADDRESS)
    form.get_by_label("Each notice").check()
    form.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    live_server.flask("run-jobs")
    [confirmation] = mail_to(live_server, ADDRESS)
    assert confirmation["Subject"].startswith("Confirm your subscription")
    confirm_path = link_path(confirmation, "/subscribe/confirm/")

    # Opening the link (what a mail scanner does) confirms nothing; the button does.
    page.goto(confirm_path)
    expect(page.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    page.get_by_role("button", name="Confirm subscription").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()

    # The demo's upcoming change was announced before this address confirmed, so the first
    # notice it gets is the next one; what it has now is the manage page.
    page.get_by_role("link", name="Manage your subscription").click()
    expect(page.get_by_role("heading", name="Your subscription")).to_be_visible()
    expect(page.get_by_text(ADDRESS)).to_be_visible()
    page.get_by_label("A weekly digest").check()
    page.get_by_role("button", name="Save choices").click()
    expect(page.locator("table.fields")).to_contain_text("Weekly digest")

    page.get_by_role("button", name="Unsubscribe from everything").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert page_problems.console_errors == []

    # A used confirmation link is refused, with a message rather than an error page.
    page.goto(confirm_path)
    button = page.get_by_role("button", name="Confirm subscription")
    if button.count():
        button.click()
    expect(page.get_by_text(re.compile("already been used|replaced"))).to_be_visible()
