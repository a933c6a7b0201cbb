"""Markdown to safe HTML: markdown-it-py with raw HTML off, then nh3 against an allowlist.

Two locks, not one: markdown-it escapes any HTML an editor types and refuses ``javascript:``
links; nh3 then keeps only the tags and attributes listed here, whatever the parser produced.
Links get ``rel="nofollow noopener"``; images may only come from this site (a path starting
with ``/``), and the Content-Security-Policy refuses any other anyway.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

import nh3
from markupsafe import Markup

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

TAGS = {
    *("h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote", "pre", "code"),
    *("ul", "ol", "li", "a", "em", "strong", "s", "del", "img"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    # Table cell alignment would come as a style attribute, which the CSP refuses: left out.
}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener"


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Imported on first use: markdown-it's rules take 20 ms to load, needed only by an editor's
    # preview and a revision's publication, not at each start of a process.
    from markdown_it import MarkdownIt

    # CommonMark with tables and strikethrough; "html": False turns raw HTML into text.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def _local_images_only(element: str, attribute: str, value: str) -> str | None:
    """Drop an image's source unless it is a path on this site (no tracking pixels, no hotlinks)."""
    if element == "img" and attribute == "src":
        local = value.startswith("/") and not value.startswith("//") and "\\" not in value
        return value if local else None
    return value


def sanitise(html: str) -> str:
    """Keep only the allowlisted tags and attributes of ``html``."""
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        attribute_filter=_local_images_only,
        strip_comments=True,
    )


def render_markdown(source: str) -> str:
    """The HTML readers see for a revision's Markdown ``source``; safe to insert unescaped."""
    return sanitise(_parser().render(source))


# A sanitised heading has no attributes (none are allowed on headings above).
_HEADING = re.compile(r"<(/?)h([1-6])>")


def in_page(rendered: str) -> Markup:
    """A revision's rendered HTML as part of one of our pages, whose own ``h1`` is the document's
    title: every heading one level down (``h1`` to ``h2``, and so on; ``h6`` stays), so a page
    has one ``h1`` and its outline follows the text. The stored HTML is left as it was written."""
    shifted = _HEADING.sub(lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + 1, 6)}>", rendered)
    return Markup(shifted)  # noqa: S704  # sanitised by render_markdown; only tag names change
