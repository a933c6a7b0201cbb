"""axe-core over every public page of the demo, in chromium, on a desktop and on a phone: no
violation of serious or critical impact (missing names, contrast, broken ARIA, ...).

The pages are the ones a reader reaches by links (``tests/crawl.py``, over HTTP), and an error
page; axe reads each of them at both sizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ViewportSize

from tests.browser.conftest import ACTION_TIMEOUT_MS, LiveServer
from tests.checkers import AXE_SCRIPT, installed
from tests.crawl import HttpClient, crawl

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
FAILING_IMPACTS = ("serious", "critical")

# The violations of one page, in a shape short enough to list: rule, impact, the nodes' targets.
RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ['violations']});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(' ')),
  }));
}"""


@pytest.fixture(scope="module")
def public_pages(live_server: LiveServer) -> list[str]:
    """Every public page of the demo a reader reaches by links, and a page that is not there."""
    found = crawl(HttpClient(live_server.url), "/", "/processors", "/documents", "/subscribe", "/sign-in")
    pages = [path for path, markup in found.items() if markup.html]
    assert len(pages) > 25, pages
    return [*pages, "/nothing-here"]


@pytest.fixture
def axe_context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    """A context that lets the test inject axe: the site's Content-Security-Policy allows only
    its own scripts, and the injected one is inline."""
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context
    context.close()


def violations(context: BrowserContext, viewport: ViewportSize, paths: list[str]) -> list[str]:
    """Each serious or critical violation axe finds on ``paths``: URL, rule, impact, target."""
    script = installed(AXE_SCRIPT)
    page = context.new_page()
    page.set_viewport_size(viewport)
    found: list[str] = []
    for path in paths:
        page.goto(path)
        page.add_script_tag(path=str(script))
        results: list[dict[str, Any]] = page.evaluate(RUN_AXE)
        found += [
            f"{path}: {result['id']} ({result['impact']}: {result['help']}) at {target}"
            for result in results
            if result["impact"] in FAILING_IMPACTS
            for target in result["targets"]
        ]
    page.close()
    return found


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_nothing_serious_on_any_public_page(
    axe_context: BrowserContext, public_pages: list[str], viewport: ViewportSize
) -> None:
    found = violations(axe_context, viewport, public_pages)
    if found:
        pytest.fail(
            f"axe: {len(found)} serious or critical violations on {len(public_pages)} pages: {public_pages}:\n"
            + "\n".join(found)
        )


def test_axe_finds_a_serious_violation(axe_context: BrowserContext, live_server: LiveServer) -> None:
    """The check can fail: an image without a text alternative is a critical violation."""
    page = axe_context.new_page()
    page.goto("/processors")
    page.evaluate(
        "() => { const img = document.createElement('img'); img.src = '/static/favicon.svg'; document.querySelector('main').append(img); }"
    )
    page.add_script_tag(path=str(installed(AXE_SCRIPT)))
    results: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    assert [(r["id"], r["impact"]) for r in results if r["impact"] in FAILING_IMPACTS] == [
        ("image-alt", "critical")
    ]
