"""The change workflow as an account manager goes through it, and as a reader then sees it.

An editor signs in, drafts an addition in the list editor, announces it with notice, and the
public page shows it among the upcoming changes; when its effective date has come, the real
scheduler running in the server publishes it as a new version, in the change log. This is the
issue's "done when", end to end in chromium against gunicorn: every layer a person relies on
(forms, CSRF, sessions, redirects, the scheduler thread, caching) takes part.

These tests use a server of their own (``scheduled_server``): they change the list, and the
other browser tests read the demo's list as loaded.
"""

from __future__ import annotations

import re
import sqlite3
import time
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer, PageProblems

pytestmark = pytest.mark.browser

LIST_SLUG = "sub-processors"  # the demo's default list, served at /processors
LIST_PATH = "/processors"
EDITOR = "editor@example.com"
# The entry the editor adds; a name no demo entry shares, so finding it means finding ours.
NAME = "Lingua Translate GmbH"
HEADLINE = f"New sub-processor: {NAME} (Germany)"
REASON = "We are adding Lingua Translate to translate support tickets into the agent's language."
SIGN_IN_FAILED = "That email address and password do not match an active account."
# How long the scheduler (ticking every second) may take to apply a due change.
APPLY_TIMEOUT_SECONDS = 20.0
# How SQLAlchemy keeps a UTC timestamp in SQLite: text, without an offset.
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


# --- helpers ----------------------------------------------------------------------------------


def demo_password(server: LiveServer, email: str) -> str:
    """The password ``flask demo`` gave ``email``, from the file it writes for the person trying it."""
    for line in (server.instance_path / "demo-users.txt").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == email:
            return fields[2]
    raise AssertionError(f"{email} is not in the demo users of {server.instance_path}")


def sign_in(page: Page, email: str, password: str) -> None:
    """Fill the sign-in form as a person does (the page is already showing it) and submit it."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def published(page: Page, path: str = f"{LIST_PATH}.json") -> dict[str, Any]:
    """A JSON document as the server publishes it now (API requests bypass the HTTP cache)."""
    response = page.request.get(path)
    assert response.ok, f"{path}: {response.status}"
    document: dict[str, Any] = response.json()
    return document


def names_in(document: dict[str, Any]) -> list[str]:
    return [entry["name"] for entry in document["processors"]]


def upcoming_names(document: dict[str, Any]) -> list[str]:
    return [change["processor"]["name"] for change in document["upcoming"]]


def human_date(day: date) -> str:
    """A date as the pages write it: 26 December 2026."""
    return f"{day.day} {day:%B %Y}"


def move_notice_into_the_past(database: Path, notice_id: int) -> None:
    """Shift a notice's calendar back so that its effective date was a minute ago.

    Only the calendar moves: the announcement, the objection deadline and the effective date of
    the notice and of its changes all move back by the same amount, so the notice stays as the
    rules made it (notice period respected, deadline before the effective date). Nothing else is
    touched; applying it is left to the real scheduler in the server, as on the day itself.
    Waiting a month is not an option, and the server's clock is the operating system's.
    """
    with closing(sqlite3.connect(database, timeout=10)) as connection, connection:
        row = connection.execute(
            "SELECT announced_at, objection_deadline, effective_at FROM notices WHERE id = ?",
            (notice_id,),
        ).fetchone()
        assert row is not None, f"no notice {notice_id} in {database}"
        moments = [datetime.strptime(value, SQLITE_TIME).replace(tzinfo=UTC) for value in row]
        shift = moments[2] - (datetime.now(UTC) - timedelta(minutes=1))
        announced_at, deadline, effective_at = (f"{moment - shift:{SQLITE_TIME}}" for moment in moments)
        connection.execute(
            "UPDATE notices SET announced_at = ?, objection_deadline = ?, effective_at = ? WHERE id = ?",
            (announced_at, deadline, effective_at, notice_id),
        )
        moved = connection.execute(
            "UPDATE changes SET effective_at = ? WHERE notice_id = ?", (effective_at, notice_id)
        ).rowcount
        assert moved == 1, f"notice {notice_id} has {moved} changes, expected our one addition"


def wait_until_applied(page: Page, server: LiveServer, version: int) -> dict[str, Any]:
    """Poll the public JSON until ``version`` is out with our entry in it; fail after a bound.

    The scheduler ticks every second; the bound allows for a slow machine, and a failure shows
    the server's log, where a failed job is reported.
    """
    deadline = time.monotonic() + APPLY_TIMEOUT_SECONDS
    document = published(page)
    while time.monotonic() < deadline:
        if document["version"] >= version and NAME in names_in(document):
            return document
        time.sleep(0.25)
        document = published(page)
    pytest.fail(
        f"the scheduler did not apply the change within {APPLY_TIMEOUT_SECONDS:.0f} s "
        f"(version {document['version']}, entries {names_in(document)}):\n{server.log_tail()}"
    )


# --- who may come in --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        f"/admin/lists/{LIST_SLUG}",
        f"/admin/lists/{LIST_SLUG}/new-entry",
        f"/admin/lists/{LIST_SLUG}/announce",
        "/admin/users",
        "/admin/audit",
    ],
)
def test_admin_pages_send_a_signed_out_reader_to_sign_in(scheduled_page: Page, path: str) -> None:
    """Nobody signed out sees a draft, a user or the audit trail: they are sent to sign in, and
    the sign-in form remembers where they were going."""
    page = scheduled_page
    response = page.goto(path)
    assert response is not None and response.status == 200
    redirect = response.request.redirected_from
    assert redirect is not None and redirect.url.endswith(path)
    redirect_response = redirect.response()
    assert redirect_response is not None and redirect_response.status == 302

    expect(page).to_have_url(re.compile(rf"/sign-in\?next={re.escape(quote(path, safe=''))}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_have_text("Please sign in to continue.")
    expect(page.get_by_role("navigation", name="Admin")).to_have_count(0)


def test_wrong_password_is_refused_with_a_message(scheduled_page: Page, scheduled_server: LiveServer) -> None:
    """A mistyped password must say so next to the field, keep the address typed, and leave the
    person signed out; the message is the same as for an unknown address (no account probing)."""
    page = scheduled_page
    page.goto("/sign-in")
    with page.expect_response(lambda r: r.request.method == "POST" and "/sign-in" in r.url) as answer:
        sign_in(page, EDITOR, demo_password(scheduled_server, EDITOR) + "-typo")
    assert answer.value.status == 401

    password = page.get_by_label("Password")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description(SIGN_IN_FAILED)
    expect(password).to_have_value("")
    expect(page.get_by_label("Email address")).to_have_value(EDITOR)

    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))


# --- the workflow -----------------------------------------------------------------------------


def test_announced_addition_reaches_the_public_list_and_takes_effect(
    scheduled_page: Page, scheduled_server: LiveServer, page_problems: PageProblems
) -> None:
    """The issue's "done when": sign in, draft an addition, announce it with notice, see it
    upcoming on the public page; once its date has come the scheduler publishes it as a new
    version, shown in the change log with the reason given."""
    page = scheduled_page
    before = published(page)
    assert NAME not in names_in(before)

    # Signed out, the list editor sends the editor to sign in and, once signed in, back to it.
    page.goto(f"/admin/lists/{LIST_SLUG}")
    sign_in(page, EDITOR, demo_password(scheduled_server, EDITOR))
    expect(page).to_have_url(re.compile(rf"/admin/lists/{LIST_SLUG}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sub-processors")
    expect(page.get_by_role("navigation", name="Admin")).to_contain_text(EDITOR)

    # Draft the addition, filling the form by its labels.
    page.get_by_role("link", name="Add an entry").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add an entry to Sub-processors")
    page.get_by_label("Name", exact=True).fill(NAME)
    page.get_by_label("Legal entity").fill("Lingua Translate GmbH, Berlin")
    page.get_by_label("Corporate location").fill("DE")
    page.get_by_label("Kind").select_option(label="Third-party sub-processor")
    page.get_by_label("Website").fill("https://lingua-translate.example")
    page.get_by_label("Purpose").fill("Machine translation of support tickets.")
    page.get_by_label("Categories of personal data").fill("Support messages\nName")
    page.get_by_label("Processing locations, country 1").fill("Germany")
    mechanisms = page.get_by_role("group", name="Transfer mechanisms")
    mechanisms.get_by_label("No transfer (processing within the EEA)").check()
    page.get_by_role("button", name="Save draft").click()

    expect(page).to_have_url(re.compile(rf"/admin/lists/{LIST_SLUG}$"))
    expect(page.get_by_role("status")).to_contain_text(f"Drafted: {HEADLINE}")
    drafts = page.get_by_role("region", name=re.compile(r"^Open drafts"))
    expect(drafts.get_by_role("row").filter(has_text=NAME)).to_have_count(1)
    assert NAME not in upcoming_names(published(page)), "a draft is private"

    # Announce it: choose the draft, give the public reason and a date after the notice period.
    page.get_by_role("link", name="Announce drafts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Announce changes to Sub-processors")
    period = re.search(r"Notice period: (\d+) days", page.locator("main").inner_text())
    assert period is not None, "the announce page states the notice period"
    notice_days = int(period.group(1))
    effective = (datetime.now(UTC) + timedelta(days=notice_days + 3)).date()
    draft = page.get_by_label(HEADLINE)
    draft.check()
    expect(draft).to_be_checked()
    page.get_by_label("Public reason").fill(REASON)
    date_input = page.get_by_label("Effective date (UTC)")
    expect(date_input).to_have_attribute("type", "date")
    date_input.fill(effective.isoformat())

    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("region", name="Preview")
    expect(preview).to_contain_text(f"{HEADLINE}, effective {effective.isoformat()}")
    expect(preview).to_contain_text(f"{human_date(effective)}, 00:00 UTC")
    expect(preview).to_contain_text(REASON)
    expect(page.get_by_label(HEADLINE)).to_be_checked()
    expect(page.get_by_label("Effective date (UTC)")).to_have_value(effective.isoformat())
    assert NAME not in upcoming_names(published(page)), "a preview saves nothing"

    page.get_by_role("button", name="Announce", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/notices/\d+$"))
    notice_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("status")).to_have_text(
        f"Announced: {HEADLINE}, effective {effective.isoformat()}."
    )

    # The public page, in the same browser, lists it among the upcoming changes with its date.
    page.goto(LIST_PATH)
    upcoming = page.get_by_role("region", name="Upcoming changes")
    ours = upcoming.get_by_role("row").filter(has_text=NAME)
    expect(ours).to_have_count(1)
    expect(ours.get_by_role("rowheader")).to_contain_text(f"New: {NAME}")
    takes_effect = ours.locator("td[data-label='Takes effect'] time")
    expect(takes_effect).to_have_text(human_date(effective))
    assert datetime.fromisoformat(takes_effect.get_attribute("datetime") or "") == datetime(
        effective.year, effective.month, effective.day, tzinfo=UTC
    )
    expect(ours.locator("td[data-label='Reason']")).to_have_text(REASON)
    expect(page.locator("table.entries").get_by_text(NAME)).to_have_count(0)
    (announced,) = [c for c in published(page)["upcoming"] if c["processor"]["name"] == NAME]
    assert announced["effective_at"] == f"{effective.isoformat()}T00:00:00Z"
    assert announced["reason"] == REASON

    # Time passes: the notice's date comes. The scheduler in the server is real; only the
    # calendar is moved (see move_notice_into_the_past).
    move_notice_into_the_past(scheduled_server.database_path, notice_id)
    after = wait_until_applied(page, scheduled_server, before["version"] + 1)
    version = after["version"]
    assert version == before["version"] + 1
    assert sorted(names_in(after)) == sorted([*names_in(before), NAME])
    assert NAME not in upcoming_names(after)

    # The change log shows the new version: the addition, with the reason given.
    page.goto(f"{LIST_PATH}/changes")
    entry = page.locator(f"#version-{version}")
    expect(entry.get_by_role("link", name=f"Version {version}")).to_be_visible()
    expect(entry.locator(".reason")).to_have_text(REASON)
    expect(entry.locator(".change-add")).to_contain_text(f"Added {NAME}")
    expect(entry.locator(".change")).to_have_count(1)

    # The version has its own page, with the entry; the version before it does not.
    entry.get_by_role("link", name=f"Version {version}").click()
    expect(page).to_have_url(re.compile(rf"{LIST_PATH}/versions/{version}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sub-processors version {version}")
    expect(page.get_by_text("It is the current version.")).to_be_visible()
    expect(page.locator("table.entries tbody tr").filter(has_text=NAME)).to_have_count(1)
    page.goto(f"{LIST_PATH}/versions/{version - 1}")
    expect(page.locator("table.entries tbody tr").filter(has_text=NAME)).to_have_count(0)

    # The list page lists it as current. This browser cached the page when it showed the
    # announcement (Cache-Control: max-age, CACHE_MAX_AGE) and may show that copy again for a
    # while, by design; reloading revalidates it (ETag), as a reader who knows better would.
    page.goto(LIST_PATH)
    page.reload()
    expect(page.locator("table.entries tbody tr").filter(has_text=NAME)).to_have_count(1)
    expect(page.get_by_role("region", name="Upcoming changes").get_by_text(NAME)).to_have_count(0)

    assert page_problems.console_errors == []
    assert page_problems.failed_requests == []
