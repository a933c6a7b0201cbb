"""The history as a reader follows it: from the list to its change log, a version, and a diff.

Every step is a click on a visible link, so a broken or missing link fails here even when each
page renders on its own. Version numbers are read from the pages, not assumed from the demo.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser


def follow(page: Page, link: Locator, url: str) -> None:
    """Click ``link`` and wait until the page at ``url`` (a regular expression) has loaded, so
    that what is read next comes from the new page, not the one being left."""
    link.click()
    page.wait_for_url(re.compile(url))


def test_from_the_list_to_change_log_version_and_diff(page: Page) -> None:
    """The path a customer takes to check what changed: list, change log, version, diff."""
    page.goto("/processors")
    meta = page.locator("p.meta").text_content() or ""
    match = re.search(r"Version (\d+)", meta)
    assert match is not None, meta
    current = int(match.group(1))
    assert current > 1, "the demo publishes several versions"

    follow(page, page.get_by_role("link", name="Change log"), r"/processors/changes$")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sub-processors: change log")
    # The announced change is shown in the change log too, before it takes effect.
    expect(page.get_by_role("region", name="Upcoming changes")).to_contain_text("OpenAI")

    newest = page.locator("ol.timeline > li.entry:not(.withdrawal)").first
    expect(newest.get_by_role("link", name=re.compile(r"^Version \d+$"))).to_have_text(f"Version {current}")
    changed = (newest.locator(".changes strong").first.text_content() or "").strip()
    assert changed, "the newest version names the processor it changed"

    follow(page, newest.get_by_role("link", name=f"Version {current}"), rf"/processors/versions/{current}$")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sub-processors version {current}")
    expect(page.locator(".notice-box")).to_contain_text("It is the current version.")

    compare = page.get_by_role("link", name=f"Compare with version {current - 1}")
    follow(page, compare, rf"/processors/diff\?from={current - 1}&to={current}$")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Sub-processors: what changed from version {current - 1} to {current}"
    )
    expect(page.get_by_role("main")).to_contain_text(changed)


def test_an_old_version_points_to_the_current_list(page: Page) -> None:
    """Someone holding a link to an old version must see that it has been replaced, and where."""
    page.goto("/processors/versions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sub-processors: all versions")
    follow(page, page.get_by_role("link", name="Version 1", exact=True), r"/processors/versions/1$")

    current_link = page.get_by_role("link", name=re.compile(r"^see the current list \(version \d+\)$"))
    expect(current_link).to_be_visible()
    follow(page, current_link, r"/processors$")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sub-processors")


def test_the_list_as_it_was_on_a_date(page: Page) -> None:
    """The date form answers "what did the list say on that day?" with that day's version."""
    page.goto("/processors/versions")
    labels = page.get_by_role("rowheader").all_text_contents()
    newest = max(int(label.strip().removeprefix("Version ")) for label in labels)

    # Every demo version was published well before today, so today's list is the newest one.
    page.get_by_label("Show the list as it was on").fill(datetime.now(UTC).date().isoformat())
    # The form's answer is a redirect to the version's permanent address.
    follow(page, page.get_by_role("button", name="Show"), rf"/processors/versions/{newest}$")
    expect(page.locator(".notice-box")).to_contain_text("It is the current version.")


def test_compare_any_two_versions(page: Page) -> None:
    """The diff form lets a reader compare the first version with the current one."""
    page.goto("/processors/diff")
    to_version = page.get_by_label("To version").input_value()
    page.get_by_label("From version").select_option("1")
    follow(page, page.get_by_role("button", name="Compare"), rf"/processors/diff\?from=1&to={to_version}$")

    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Sub-processors: what changed from version 1 to {to_version}"
    )
    sections = page.get_by_role("region", name=re.compile(r"^(Added|Removed|Changed) \(\d+\)$"))
    expect(sections.first).to_be_visible()
