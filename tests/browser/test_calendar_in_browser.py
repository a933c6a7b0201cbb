"""The calendar as a reader finds it: the list page's "Add to calendar" link serves the list's
announced changes as iCalendar, with the demo's upcoming change on its effective date. And the
embeddable view loads cleanly on its own, styled, without the site around it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from icalendar import Calendar
from playwright.sync_api import Page, expect

from registry.publishing.wording import last_day_to_object

if TYPE_CHECKING:
    from tests.browser.conftest import PageProblems

pytestmark = pytest.mark.browser


def test_the_calendar_link_serves_the_lists_announced_changes(page: Page) -> None:
    page.goto("/processors")
    link = page.get_by_role("navigation", name="This list elsewhere").get_by_role(
        "link", name="Add to calendar"
    )
    expect(link).to_have_count(1)
    href = link.get_attribute("href")
    assert href == "/processors/calendar.ics"

    response = page.request.get(href)
    assert response.ok, response.status
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.body())
    events = {str(event["summary"]): event for event in calendar.walk("VEVENT")}
    [effective] = [e for s, e in events.items() if "OpenAI" in s and s.endswith("(takes effect)")]
    [deadline] = [e for s, e in events.items() if "OpenAI" in s and s.startswith("Last day to object: ")]

    # The same days the page shows in its table of upcoming changes.
    row = page.get_by_role("region", name="Upcoming changes").get_by_role("row").filter(has_text="OpenAI")
    takes_effect = datetime.fromisoformat(
        row.locator("td[data-label='Takes effect'] time").get_attribute("datetime") or ""
    )
    object_by = datetime.fromisoformat(
        row.locator("td[data-label='Object by'] time").get_attribute("datetime") or ""
    )
    assert effective.decoded("dtstart") == takes_effect.astimezone(UTC).date()
    assert deadline.decoded("dtstart") == last_day_to_object(object_by)
    assert str(effective["status"]) == "CONFIRMED"

    # Fetched again: the same events under the same UIDs, and a revalidation costs nothing.
    again = page.request.get(href, headers={"If-None-Match": response.headers["etag"]})
    assert again.status == 304


def test_the_embed_view_loads_without_the_site_around_it(page: Page, page_problems: PageProblems) -> None:
    response = page.goto("/processors/embed")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Sub-processors")
    expect(page.locator("table.entries").first).to_be_visible()
    expect(page.locator("header, footer, nav, form")).to_have_count(0)
    full = page.get_by_role("link", name="Full list and history")
    expect(full).to_have_attribute("target", "_top")
    assert page_problems.console_errors == []
    assert page_problems.failed_requests == []
