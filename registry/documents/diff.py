"""Differences between two revisions: word by word as a reader sees them, and as a unified diff.

The word diff compares the rendered text (headings, lists, links and tables as the page shows
them, not Markdown's ``#``, ``|---|`` or link syntax) and keeps the newer revision's structure:
its tags are kept as they are, inserted words are marked ``<ins>``, and deleted words are put
back as ``<del>`` where they stood. Words and punctuation are separate tokens, so "address." to
"address and name." is one insertion, and only words are counted. The unified diff
(``diff.txt``) is of the Markdown sources, for whoever needs every character, link targets too.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape

Op = Literal["equal", "insert", "delete"]

# A tag of the rendered HTML, or the text between tags.
_HTML = re.compile(r"<[^>]*>|[^<]+")
# In text: whitespace, a word (with inner apostrophes, hyphens and dots: "don't", "e-mail",
# "e.g"), or one punctuation sign.
_WORD = re.compile(r"\s+|\w+(?:['’.\-]\w+)*|[^\w\s]")
_TAG_NAME = re.compile(r"</?([a-zA-Z0-9]+)")
_VOID = {"br", "hr", "img"}
# Elements whose content may not be text: a deleted word found there waits for the next place
# that may hold it (or, in a list, gets an item of its own).
_NO_TEXT = {"table", "thead", "tbody", "tr"}
_LISTS = {"ul", "ol"}
# Blocks compared by what they hold (item by item, row by row) when they change.
_CONTAINERS = {"ul", "ol", "table", "thead", "tbody", "tr", "blockquote"}
# Said before each marked run by screen readers (visually hidden): colour and line are not enough.
_LABELS = {"insert": "inserted: ", "delete": "deleted: "}

Token = tuple[bool, str]  # (is a tag, its text: a tag as written, or unescaped text)
Block = tuple[Token, ...]  # a top-level element and the whitespace after it


@dataclass(frozen=True)
class Chunk:
    """A run of the two token sequences: unchanged (``old`` and ``new`` alike), or changed."""

    changed: bool
    old: list[Token]
    new: list[Token]
    # Whole blocks added or removed: shown with their own structure (a removed list stays a list).
    whole: bool = False


@dataclass(frozen=True)
class WordDiff:
    chunks: list[Chunk]

    @property
    def is_empty(self) -> bool:
        return not any(chunk.changed for chunk in self.chunks)

    @property
    def inserted(self) -> list[str]:
        """The inserted words, in order (punctuation is not a word)."""
        return self._words("new")

    @property
    def deleted(self) -> list[str]:
        """The deleted words, in order."""
        return self._words("old")

    def _words(self, side: Literal["old", "new"]) -> list[str]:
        # Within a changed chunk the two sides share nothing but the spaces folded into it.
        return [
            text
            for chunk in self.chunks
            if chunk.changed
            for is_tag, text in getattr(chunk, side)
            if not is_tag and any(c.isalnum() for c in text)
        ]

    def as_html(self) -> Markup:
        """The newer revision's HTML with its inserted words in ``<ins>`` and the deleted ones in
        ``<del>``, each run labelled for screen readers."""
        return _Writer().write(self.chunks)


class _Writer:
    """Writes the merged HTML, keeping track of the open elements so that deleted text is only
    put where text may stand."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.open: list[str] = []
        self.waiting: list[str] = []  # deleted text that found no place yet

    def write(self, chunks: list[Chunk]) -> Markup:
        for chunk in chunks:
            if not chunk.changed:
                self._tokens(chunk.new, None)
                continue
            if chunk.whole:
                self._tokens(chunk.old, "delete")
                self._tokens(chunk.new, "insert")
                continue
            deleted = "".join(text for is_tag, text in chunk.old if not is_tag)
            if deleted.strip():
                self._deleted(deleted)
            self._tokens(chunk.new, "insert")
        if self.waiting:
            self.parts.append(f"<p>{self._mark('delete', ' '.join(self.waiting))}</p>")
        return Markup("".join(self.parts))  # noqa: S704  # tags from sanitised HTML, text escaped

    def _tokens(self, tokens: list[Token], op: Op | None) -> None:
        run: list[str] = []
        for is_tag, text in tokens:
            if is_tag:
                self._text(run, op)
                run = []
                self._tag(text)
            else:
                run.append(text)
        self._text(run, op)

    def _text(self, run: list[str], op: Op | None) -> None:
        text = "".join(run)
        if not text:
            return
        if self.waiting and self._takes_text():
            self.parts.append(self._mark("delete", " ".join(self.waiting)) + " ")
            self.waiting = []
        if op is None or text.isspace():
            self.parts.append(str(escape(text)))
        else:
            self.parts.append(self._mark(op, text))

    def _tag(self, tag: str) -> None:
        self.parts.append(tag)
        match = _TAG_NAME.match(tag)
        if match is None:
            return
        name = match.group(1).lower()
        if tag.startswith("</"):
            if name in self.open:
                del self.open[len(self.open) - 1 - self.open[::-1].index(name) :]
        elif name not in _VOID and not tag.endswith("/>"):
            self.open.append(name)

    def _takes_text(self) -> bool:
        return bool(self.open) and self.open[-1] not in _NO_TEXT | _LISTS

    def _deleted(self, text: str) -> None:
        text = " ".join(text.split())
        if self._takes_text():
            self.parts.append(self._mark("delete", text))
        elif not self.open:
            self.parts.append(f"<p>{self._mark('delete', text)}</p>")
        elif self.open[-1] in _LISTS:
            self.parts.append(f"<li>{self._mark('delete', text)}</li>")
        else:
            self.waiting.append(text)

    @staticmethod
    def _mark(op: Op, text: str) -> str:
        tag = "ins" if op == "insert" else "del"
        label = f'<span class="visually-hidden">{_LABELS[op]}</span>'
        return f"<{tag}>{label}{escape(text)}</{tag}>"


def _tokens(rendered: str) -> list[Token]:
    tokens: list[Token] = []
    for part in _HTML.findall(rendered):
        if part.startswith("<"):
            tokens.append((True, part))
        else:
            tokens.extend((False, word) for word in _WORD.findall(html.unescape(part)))
    return tokens


def _blank(tokens: list[Token]) -> bool:
    return all(not is_tag and text.isspace() for is_tag, text in tokens)


def word_diff(old_rendered: str, new_rendered: str) -> WordDiff:
    """The words deleted from and inserted into a revision, compared on the rendered (and
    sanitised) HTML of two revisions, the text a reader sees.

    First block by block (paragraphs, headings, lists, tables; within a list or table, item by
    item and row by row), so that a paragraph or item added or removed is shown whole; then
    word by word within the blocks that changed.
    """
    return WordDiff(_block_chunks(_tokens(old_rendered), _tokens(new_rendered)))


def _block_chunks(a: list[Token], b: list[Token]) -> list[Chunk]:
    old_blocks, new_blocks = _blocks(a), _blocks(b)
    chunks: list[Chunk] = []
    matcher = difflib.SequenceMatcher(None, old_blocks, new_blocks, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace":
            chunks.extend(_paired_chunks(old_blocks[i1:i2], new_blocks[j1:j2]))
        else:
            chunks.append(_whole(tag, old_blocks[i1:i2], new_blocks[j1:j2]))
    return chunks


def _paired_chunks(old_blocks: list[Block], new_blocks: list[Block]) -> list[Chunk]:
    """Changed blocks, paired by kind (a paragraph with a paragraph, a list with a list): a pair
    is compared word by word (a list or table item by item); a block with no partner is shown
    whole."""
    chunks: list[Chunk] = []
    kinds = difflib.SequenceMatcher(
        None, [block[0] for block in old_blocks], [block[0] for block in new_blocks], autojunk=False
    )
    for tag, i1, i2, j1, j2 in kinds.get_opcodes():
        if tag == "equal":
            for old, new in zip(old_blocks[i1:i2], new_blocks[j1:j2], strict=True):
                chunks.extend(_pair(list(old), list(new)))
        elif tag == "replace":
            chunks.extend(_word_chunks(_flat(old_blocks[i1:i2]), _flat(new_blocks[j1:j2])))
        else:
            chunks.append(_whole(tag, old_blocks[i1:i2], new_blocks[j1:j2]))
    return chunks


def _pair(old: list[Token], new: list[Token]) -> list[Chunk]:
    if old == new:
        return [Chunk(False, old, new)]
    if not _same_container(old, new):
        return _word_chunks(old, new)
    # One list or table changed: open it, compare what it holds, close it.
    opening, closing = _container_ends(old)
    tail = len(old) - closing
    return [
        Chunk(False, old[:opening], new[:opening]),
        *_block_chunks(old[opening:closing], new[opening : len(new) - tail]),
        Chunk(False, old[closing:], new[len(new) - tail :]),
    ]


def _whole(tag: str, old_blocks: list[Block], new_blocks: list[Block]) -> Chunk:
    """Blocks unchanged, or added or removed whole."""
    return Chunk(tag != "equal", _flat(old_blocks), _flat(new_blocks), whole=tag != "equal")


def _flat(blocks: list[Block]) -> list[Token]:
    return [token for block in blocks for token in block]


def _same_container(old: list[Token], new: list[Token]) -> bool:
    """Both are one element of the same container kind, opened by the same tag, with the same
    closing and trailing tokens."""
    if not old or not new or old[0] != new[0] or not old[0][0]:
        return False
    match = _TAG_NAME.match(old[0][1])
    if match is None or match.group(1).lower() not in _CONTAINERS:
        return False
    closing = _container_ends(old)[1]
    return old[closing:] == new[len(new) - (len(old) - closing) :]


def _container_ends(block: list[Token]) -> tuple[int, int]:
    """Where a container's content starts (after its opening tag and the whitespace after it)
    and ends (at its closing tag)."""
    opening = 1
    while opening < len(block) and not block[opening][0] and block[opening][1].isspace():
        opening += 1
    closing = max(i for i, (is_tag, text) in enumerate(block) if is_tag and text.startswith("</"))
    return opening, closing


def _blocks(tokens: list[Token]) -> list[Block]:
    """``tokens`` cut into top-level elements (with the whitespace that follows each)."""
    blocks: list[list[Token]] = []
    depth = 0
    for token in tokens:
        is_tag, text = token
        if depth == 0 and (is_tag or not text.isspace() or not blocks):
            blocks.append([])
        blocks[-1].append(token)
        if is_tag and (match := _TAG_NAME.match(text)) and match.group(1).lower() not in _VOID:
            depth += -1 if text.startswith("</") else 1
            depth = max(depth, 0)
    return [tuple(block) for block in blocks]


def _word_chunks(a: list[Token], b: list[Token]) -> list[Chunk]:
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    # A run of changed words separated only by unchanged spaces reads as one change: fold such
    # spaces into the change rather than showing "<del>a</del><ins>x</ins> <del>b</del><ins>y</ins>".
    # A tag (a new paragraph, item or cell) stays a boundary.
    chunks: list[Chunk] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        between_changes = 0 < index < len(opcodes) - 1
        changed = tag != "equal" or (between_changes and _blank(a[i1:i2]))
        if chunks and chunks[-1].changed and changed:
            chunks[-1].old.extend(a[i1:i2])
            chunks[-1].new.extend(b[j1:j2])
        else:
            chunks.append(Chunk(changed, list(a[i1:i2]), list(b[j1:j2])))
    return chunks


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
