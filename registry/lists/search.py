"""Free-text search over what a reader sees of an entry, not over the codes it is stored with.

A reader types what the page shows ("United States", "Standard Contractual Clauses", "Société")
or what they know it by ("US", "scc"): both must find the entry. So an entry's searchable text is
built from the labels the page prints (``field_value``, the same function the templates call)
plus the codes behind them, and query and text are folded alike: case-insensitive and without
accents. Every word (or "quoted phrase") must be found, in any field.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from registry.lists.fields import FIELDS, KIND_PLURALS, TRANSFER_MECHANISMS
from registry.lists.templating import field_value

# Fields a reader never reads as text: the identifier is the row's anchor, the safeguards
# address a link labelled "Safeguards". Searching them would find every entry for "https".
_UNSEEN = frozenset({"id", "safeguards_url"})
# Fields whose words come from a helper of their own rather than from ``field_value``: the
# mechanism's from ``_mechanism_labels`` (label and code), the website's from ``_host``.
_OWN_WORDS = frozenset({"transfer_mechanism", "website"})
# Fields are kept apart by a character no field or query may contain (NUL is refused on the
# way in) and that is not whitespace: a phrase is found within one field, never across two.
SEPARATOR = "\x00"
_TERMS = re.compile(r'"([^"]*)"|(\S+)')


def fold(text: str) -> str:
    """Text as search compares it: case-folded, compatibility-decomposed, without combining
    marks ("Société" and "SOCIETE" are both "societe"; "ﬁ" is "fi")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    if decomposed.isascii():  # most text: nothing to strip, and no need to look at each letter
        return decomposed
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _mechanism_labels(entry: dict[str, Any]) -> list[str]:
    """The transfer mechanism as the page names it, and its code ("scc"): the one place that
    knows how an entry stores its mechanism."""
    code = entry.get("transfer_mechanism") or ""
    return [code, TRANSFER_MECHANISMS.get(code, code)] if code else []


def _host(url: str | None) -> list[str]:
    """A website by its host, as a reader remembers it ("stripe.com", not "https://...")."""
    host = urlsplit(url or "").hostname or ""
    return [host, host.removeprefix("www.")] if host else []


def _codes(entry: dict[str, Any]) -> list[str]:
    """The codes behind the labels, for readers who know them ("US", "affiliate"), and the kind's
    plural, the heading its group is shown under."""
    kind = entry.get("kind") or ""
    corporate = entry.get("corporate_location") or ""
    return [*entry.get("locations", ()), corporate, kind, KIND_PLURALS.get(kind, "")]


def searchable_text(entry: dict[str, Any]) -> str:
    """Everything a reader can find an entry by, folded, fields apart by ``SEPARATOR``.

    Every public field is included through ``field_value`` unless it is unseen or has words of
    its own, so a field or label added later is searchable without touching this function.
    """
    parts: list[str] = []
    for field in FIELDS:
        if field in _UNSEEN or field in _OWN_WORDS:
            continue
        value = entry.get(field)
        if value is None or value == "" or value == []:
            continue
        parts.append(field_value(field, value))
    parts += _mechanism_labels(entry)
    parts += _host(entry.get("website"))
    parts += _codes(entry)
    # Folded at once (the cost is per call, not per letter, for text without accents); runs
    # of whitespace, a purpose's line breaks too, become one space, as in a query.
    return " ".join(fold(SEPARATOR.join(part for part in parts if part)).split())


def _pattern(term: str) -> re.Pattern[str]:
    """Where a term counts as found: at the start of a word ("sta" finds "Standard", "dard" does
    not); a term of one or two characters only as a whole word, so that "US" finds the United
    States' code and the EU-US framework, not every "usage" and "customer"."""
    start = r"(?<!\w)" if term[0].isalnum() else ""
    end = r"(?!\w)" if len(term) <= 2 and term[-1].isalnum() else ""
    return re.compile(start + re.escape(term) + end)


@dataclass(frozen=True)
class Query:
    """A reader's search: the folded words and phrases that must all be found."""

    terms: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        """Words, or "phrases in double quotes" (an unclosed quote runs to the end)."""
        if text.count('"') % 2:
            text += '"'
        terms: list[str] = []
        for phrase, word in _TERMS.findall(fold(text)):
            term = " ".join((phrase or word).split())
            if term and term not in terms:
                terms.append(term)
        return cls(tuple(terms))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, text: str) -> bool:
        """Whether every term is found in a ``searchable_text``."""
        # The plain substring test is much the cheaper and rules most entries out first.
        return all(term in text and _compiled(term).search(text) for term in self.terms)


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(term: str) -> re.Pattern[str]:
    pattern = _PATTERNS.get(term)
    if pattern is None:
        if len(_PATTERNS) > 1024:
            _PATTERNS.clear()
        pattern = _PATTERNS[term] = _pattern(term)
    return pattern


class SearchTexts:
    """The searchable texts of published versions, built once per version in each process.

    A version's entries never change, so neither do their texts; building them is most of what
    a search of a long list costs (about 20 µs an entry). Only the few versions being searched
    are kept, the least recently searched dropped first.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._texts: OrderedDict[Hashable, tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._texts)

    def of(self, key: Hashable, entries: Sequence[dict[str, Any]]) -> tuple[str, ...]:
        """The texts of ``entries``, in order; ``key`` names their version for ever."""
        with self._lock:
            texts = self._texts.get(key)
            if texts is not None:
                self._texts.move_to_end(key)
                return texts
        # Built outside the lock: two first searches of one version may both build it, alike.
        texts = tuple(searchable_text(entry) for entry in entries)
        with self._lock:
            self._texts[key] = texts
            while len(self._texts) > self._size:
                self._texts.popitem(last=False)
        return texts
