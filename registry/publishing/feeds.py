"""What the feeds of lists and documents share: formats, the feed's own description, and the
XML-safe text and second-precision dates that keep a feed valid and its bytes stable."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from feedgen.feed import FeedGenerator

FeedFormat = Literal["atom", "rss"]
MIMETYPES: dict[str, str] = {"atom": "application/atom+xml", "rss": "application/rss+xml"}


@cache
def _not_xml() -> re.Pattern[str]:
    """Characters XML 1.0 cannot hold at all (control characters, U+FFFE/U+FFFF): lxml refuses them.

    Compiled on first use: a class spanning nearly all of Unicode takes 5 ms to compile, which
    only a feed's request needs, not every start."""
    return re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class FeedInfo:
    """What a feed says of itself; URLs absolute."""

    title: str
    description: str
    feed_id: str
    page_url: str
    self_url: str
    author: str
    # The feed's date when it has no entry (the last change of what it is about).
    updated_when_empty: datetime


def xml(text: str) -> str:
    """Text XML can hold: a character it cannot is shown as U+FFFD rather than failing the feed."""
    return _not_xml().sub("\ufffd", text)


def second(moment: datetime) -> datetime:
    """A feed's dates to the second, in UTC: the same state always gives the same bytes."""
    return moment.astimezone(UTC).replace(microsecond=0)


def new_feed(fmt: FeedFormat, info: FeedInfo, newest: datetime) -> FeedGenerator:
    """A feedgen feed with its own description filled in; ``newest`` is its date (never the clock)."""
    # Imported here: feedgen brings lxml and dateutil (15 ms), needed by a feed's request only.
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.id(xml(info.feed_id))
    feed.title(xml(info.title))
    feed.subtitle(xml(info.description))  # also RSS's description
    feed.author({"name": xml(info.author)})
    feed.link(href=info.self_url, rel="self", type=MIMETYPES[fmt])
    feed.link(href=info.page_url, rel="alternate", type="text/html")  # the last link is RSS's <link>
    feed.language("en")
    feed.generator("Processor Registry")
    feed.updated(second(newest))  # also RSS's lastBuildDate
    return feed


def feed_bytes(feed: FeedGenerator, fmt: FeedFormat) -> bytes:
    """The feed as UTF-8 XML in its format."""
    if fmt == "atom":
        return feed.atom_str(pretty=True)
    return feed.rss_str(pretty=True)
