"""Layout a reader sees: room between the header, the content and the footer, and a focus ring
that stands out from the page around it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

PAGES = ["/", "/processors", "/processors/changes", "/documents", "/sign-in", "/nothing-here"]
# At least this many CSS pixels between the header and the H1, and the content and the footer
# (more than a paragraph's own margin, which alone would leave a table flush on the footer).
ROOM_PX = 24

# The gap above the first heading and below the last element of <main>, as laid out.
GAPS = """() => {
  const header = document.querySelector('.site-header').getBoundingClientRect();
  const footer = document.querySelector('.site-footer').getBoundingClientRect();
  const h1 = document.querySelector('main h1').getBoundingClientRect();
  const bottom = Math.max(...Array.from(document.querySelectorAll('main *'))
    .filter(el => el.getClientRects().length).map(el => el.getBoundingClientRect().bottom));
  return {above: h1.top - header.bottom, below: footer.top - bottom};
}"""

# WCAG's contrast ratio between the focused element's outline and the background behind it.
FOCUS_CONTRAST = """() => {
  const rgb = text => text.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const luminance = ([r, g, b]) => {
    const lin = c => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const el = document.activeElement;
  const style = getComputedStyle(el);
  let node = el.parentElement, background = 'rgb(255, 255, 255)';
  while (node) {
    const color = getComputedStyle(node).backgroundColor;
    if (color !== 'rgba(0, 0, 0, 0)' && color !== 'transparent') { background = color; break; }
    node = node.parentElement;
  }
  const [a, b] = [luminance(rgb(style.outlineColor)), luminance(rgb(background))].sort((x, y) => y - x);
  return {width: parseFloat(style.outlineWidth), style: style.outlineStyle, ratio: (a + 0.05) / (b + 0.05)};
}"""


@pytest.mark.parametrize("path", PAGES)
def test_the_content_does_not_touch_the_header_or_the_footer(page: Page, path: str) -> None:
    page.goto(path)
    gaps = page.evaluate(GAPS)
    assert gaps["above"] >= ROOM_PX, gaps
    assert gaps["below"] >= ROOM_PX, gaps


def test_the_focus_ring_has_three_to_one_contrast_where_it_appears(page: Page) -> None:
    """Tab through the list page: every focused control (on white, the header's grey, the
    filters' panel) shows a solid ring of at least 3:1 against what is behind it."""
    page.goto("/processors")
    checked = 0
    for _ in range(25):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_CONTRAST)
        assert focus["style"] == "solid" and focus["width"] >= 2, focus
        assert focus["ratio"] >= 3, focus
        checked += 1
    assert checked == 25
