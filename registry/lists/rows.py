"""A list's entries as the page shows them: grouped by kind (and, in a long group, by first
letter), each entry's table row rendered once and then reused.

An entry's row depends only on the entry, so a new version that adds one entry to 3,000 renders
one row, not 3,000: rows are kept per process by what the entry holds (the version's whole
fragment is stored for every worker by ``registry.caching.fragment``). A long group is cut by
first letter into tables of its own, with an index of the groups at the top: a reader finds an
entry from the index, and the browser lays out small tables instead of one of thousands of rows.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from markupsafe import Markup

from registry.countries import country_name
from registry.lists.fields import KIND_PLURALS, field_value

# A group of at least this many entries is cut by first letter (a reader scrolls ~50 rows).
LETTER_GROUPS_FROM = 100
# Rows kept per process: a few versions of a long list.
ROW_CACHE_SIZE = 20_000
OTHER = "#"


@dataclass(frozen=True)
class LetterGroup:
    letter: str  # "A"..."Z", or OTHER for names that start with anything else
    anchor: str  # the id of its heading
    entries: list[dict[str, Any]]


@dataclass(frozen=True)
class KindGroup:
    kind: str
    label: str
    anchor: str
    entries: list[dict[str, Any]]
    letters: list[LetterGroup] = field(default_factory=list)  # empty: one table for the kind


def countries_of(entries: Iterable[dict[str, Any]]) -> set[str]:
    """Every processing location the entries name (the filter offers only these)."""
    return {code for entry in entries for code in entry.get("locations") or ()}


def first_letter(name: str) -> str:
    """The letter a name is filed under: its first character without accents, upper case."""
    initial = unicodedata.normalize("NFKD", name.strip()[:1])[:1].upper()[:1]  # "ß" is "SS"
    return initial if "A" <= initial <= "Z" else OTHER


def entry_groups(entries: Iterable[dict[str, Any]]) -> list[KindGroup]:
    """The entries by kind in the order of ``KIND_PLURALS``, long kinds by letter too; entries
    keep their order (a snapshot is sorted by kind, then name)."""
    by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KIND_PLURALS}
    for entry in entries:
        if entry.get("kind") in by_kind:
            by_kind[entry["kind"]].append(entry)
    groups = []
    for kind, label in KIND_PLURALS.items():
        members = by_kind[kind]
        if not members:
            continue
        letters: list[LetterGroup] = []
        if len(members) >= LETTER_GROUPS_FROM:
            by_letter: dict[str, list[dict[str, Any]]] = {}
            for entry in members:
                by_letter.setdefault(first_letter(entry.get("name", "")), []).append(entry)
            ordered = sorted(by_letter, key=lambda letter: (letter == OTHER, letter))
            letters = [
                LetterGroup(
                    letter, f"kind-{kind}-{'other' if letter == OTHER else letter.lower()}", by_letter[letter]
                )
                for letter in ordered
            ]
        groups.append(KindGroup(str(kind), label, f"kind-{kind}", members, letters))
    return groups


def escape(value: object) -> str:
    """What ``markupsafe.escape`` makes of text, as a plain string: called some 30,000 times for a
    long list, where building a ``Markup`` for each value is most of the cost."""
    return (
        str(value)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def render_row(entry: dict[str, Any], link_target: str = "") -> str:
    """One entry's row of the entries table, as one line of markup.

    Written here rather than as a template macro: a 3,000-entry list calls it 3,000 times, and a
    Jinja macro call costs several times the string it makes. No classes on cells: the phone
    cards take their labels from ``data-label`` (style.css), and ``static/table-roles.js`` gives
    the cells their table roles back on the live page (HTML forbids writing them here). Every
    value is escaped.
    """
    name = str(entry.get("name") or "")
    legal = str(entry.get("legal_entity") or "")
    entity = legal if legal != name else ""
    corporate = entry.get("corporate_location") or ""
    located = country_name(corporate) if corporate else ""
    parts = [f'<tr id="p-{escape(entry.get("id") or "")}"><th scope="row">']
    parts.append(f'<span class="name">{escape(name)}</span>')
    if entity or located:
        joined = f"{entity}, {located}" if entity and located else entity or located
        parts.append(f'<span class="entity">{escape(joined)}</span>')
    website, safeguards = entry.get("website"), entry.get("safeguards_url")
    if website or safeguards:
        attrs = ' rel="nofollow noreferrer"' + (f' target="{escape(link_target)}"' if link_target else "")
        parts.append('<span class="links">')
        if website:
            parts.append(f'<a href="{escape(website)}"{attrs}>Website</a>')
        if safeguards:
            parts.append(f'<a href="{escape(safeguards)}"{attrs}>Safeguards</a>')
        parts.append("</span>")
    parts.append(f'</th><td data-label="Purpose">{escape(entry.get("purpose") or "")}')
    if entry.get("scope"):
        parts.append(f'<span class="scope"><strong>Scope:</strong> {escape(entry["scope"])}</span>')
    parts.append("</td>")
    for field_name, label in _CELLS:
        parts.append(
            f'<td data-label="{label}">{escape(field_value(field_name, entry.get(field_name)))}</td>'
        )
    parts.append("</tr>\n")
    return "".join(parts)


_CELLS = (
    ("data_categories", "Personal data"),
    ("locations", "Processing locations"),
    ("transfer_mechanisms", "Transfer mechanisms"),
    ("since", "Since"),
)


class RowCache:
    """Rendered rows by what their entry holds: a small thread-safe LRU."""

    def __init__(self, size: int = ROW_CACHE_SIZE):
        self.size = size
        self._rows: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()
        # How many rows were rendered rather than reused: what the tests read.
        self.renders = 0

    def rows(self, entries: Sequence[dict[str, Any]], link_target: str) -> Markup:
        parts = []
        for entry in entries:
            # A snapshot's entries are plain JSON values, so their repr names them (cheaply; the
            # same entry with its keys in another order only misses).
            key = (link_target, repr(entry))
            with self._lock:
                row = self._rows.get(key)
                if row is not None:
                    self._rows.move_to_end(key)
            if row is None:
                row = render_row(entry, link_target)
                with self._lock:
                    self.renders += 1
                    self._rows[key] = row
                    while len(self._rows) > self.size:
                        self._rows.popitem(last=False)
            parts.append(row)
        return Markup("".join(parts))  # noqa: S704  # escaped in render_row


def entry_rows(entries: Sequence[dict[str, Any]], link_target: str | None = None) -> Markup:
    """The table rows of ``entries``, each rendered at most once per process."""
    cache: RowCache = current_app.extensions["entry_rows"]
    return cache.rows(entries, link_target or "")
