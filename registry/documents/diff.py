"""Differences between two revisions' Markdown sources: word by word, and as a unified diff.

The word diff works on the source a reader can also read (``diff.txt``), split into words and
the whitespace between them, with difflib's SequenceMatcher; a replaced run of words is shown as
its deletion followed by its insertion.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape

Op = Literal["equal", "insert", "delete"]
_TOKENS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class Segment:
    op: Op
    text: str


@dataclass(frozen=True)
class WordDiff:
    segments: list[Segment]

    @property
    def is_empty(self) -> bool:
        return all(segment.op == "equal" for segment in self.segments)

    @property
    def inserted(self) -> list[str]:
        """The inserted words, in order."""
        return [word for s in self.segments if s.op == "insert" for word in s.text.split()]

    @property
    def deleted(self) -> list[str]:
        """The deleted words, in order."""
        return [word for s in self.segments if s.op == "delete" for word in s.text.split()]

    def as_html(self) -> Markup:
        """The whole text with ``<del>``/``<ins>`` around changed words; line breaks kept as ``<br>``."""
        parts = []
        for segment in self.segments:
            text = str(escape(segment.text)).replace("\n", "<br>\n")
            if segment.op == "insert":
                text = f"<ins>{text}</ins>"
            elif segment.op == "delete":
                text = f"<del>{text}</del>"
            parts.append(text)
        return Markup("".join(parts))  # noqa: S704  # every piece was escaped above


def _tokens(text: str) -> list[str]:
    return _TOKENS.findall(text)


def word_diff(old: str, new: str) -> WordDiff:
    """Words (and the whitespace between them) deleted from ``old`` and inserted in ``new``."""
    a, b = _tokens(old), _tokens(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    segments: list[Segment] = []

    def add(op: Op, tokens: list[str]) -> None:
        if not tokens:
            return
        text = "".join(tokens)
        if segments and segments[-1].op == op:
            segments[-1] = Segment(op, segments[-1].text + text)
        else:
            segments.append(Segment(op, text))

    # A run of changed words separated only by unchanged spaces reads as one change: fold such
    # spaces into the change rather than showing "<del>a</del><ins>x</ins> <del>b</del><ins>y</ins>".
    chunks: list[tuple[bool, list[str], list[str]]] = []  # (changed, old tokens, new tokens)
    opcodes = matcher.get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        between_changes = 0 < index < len(opcodes) - 1
        # (a paragraph break stays a boundary: changes on either side are shown apart)
        blank = all(token.isspace() and "\n\n" not in token for token in a[i1:i2])
        changed = tag != "equal" or (between_changes and blank)
        if chunks and chunks[-1][0] and changed:
            chunks[-1][1].extend(a[i1:i2])
            chunks[-1][2].extend(b[j1:j2])
        else:
            chunks.append((changed, list(a[i1:i2]), list(b[j1:j2])))
    for changed, old_tokens, new_tokens in chunks:
        if changed:
            add("delete", old_tokens)
            add("insert", new_tokens)
        else:
            add("equal", old_tokens)
    return WordDiff(segments)


def unified_diff(old: str, new: str, *, old_name: str, new_name: str, context: int = 3) -> str:
    """A unified diff of two Markdown sources, line by line, as ``diff -u`` writes it."""
    old_lines = _lines(old)
    new_lines = _lines(new)
    return "".join(difflib.unified_diff(old_lines, new_lines, old_name, new_name, n=context))


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines
