"""Word diffs of two revisions as a reader sees them (their rendered text), and unified diffs of
their Markdown sources."""

from __future__ import annotations

import re

from registry.documents.diff import unified_diff, word_diff
from registry.documents.rendering import in_page, render_markdown

DEL = '<del><span class="visually-hidden">deleted: </span>'
INS = '<ins><span class="visually-hidden">inserted: </span>'


def diff_of(old: str, new: str) -> tuple[list[str], list[str], str]:
    """Deleted words, inserted words and the marked HTML of two Markdown texts."""
    diff = word_diff(render_markdown(old), render_markdown(new))
    return diff.deleted, diff.inserted, str(diff.as_html())


def test_words_and_punctuation_are_apart() -> None:
    deleted, inserted, html = diff_of(
        "We keep your email address.\n\nYou may ask us to delete it.\n",
        "We keep your email address and your name.\n\nYou may ask us to correct it.\n",
    )
    # "address." to "address and your name.": three words inserted, nothing deleted.
    assert deleted == ["delete"]
    assert inserted == ["and", "your", "name", "correct"]
    assert html == (
        f"<p>We keep your email address{INS} and your name</ins>.</p>\n"
        f"<p>You may ask us to {DEL}delete</del>{INS}correct</ins> it.</p>\n"
    )


def test_the_diff_is_of_the_text_a_reader_sees_not_of_its_markdown() -> None:
    deleted, inserted, html = diff_of(
        "# Policy\n\nSee [our page](/a).\n\n| Data | Kept |\n|---|---|\n| Email | 1 year |\n",
        "# Policy\n\nSee [the page](/b).\n\n| Data | Kept |\n|---|---|\n| Email | 2 years |\n",
    )
    assert deleted == ["our", "1", "year"] and inserted == ["the", "2", "years"]
    for syntax in ("#", "|", "---", "](", "[our"):
        assert syntax not in re.sub(r"<[^>]+>", "", html)
    # The newer revision's structure, with the marks inside it.
    assert "<h1>Policy</h1>" in html
    assert f'<a href="/b" rel="nofollow noopener">{INS}the</ins> page</a>' in html
    assert f"<td>{DEL}1 year</del>{INS}2 years</ins></td>" in html


def test_a_removed_paragraph_or_item_is_shown_whole_in_its_place() -> None:
    deleted, inserted, html = diff_of(
        "Hello.\n\nGone paragraph.\n\n- one\n- two\n- three\n\nEnd.\n",
        "Hello.\n\n- one\n- three\n\nEnd.\n\nA new paragraph.\n",
    )
    assert deleted == ["Gone", "paragraph", "two"] and inserted == ["A", "new", "paragraph"]
    assert html == (
        "<p>Hello.</p>\n"
        f"<p>{DEL}Gone paragraph.</del></p>\n"
        "<ul>\n<li>one</li>\n"
        f"<li>{DEL}two</del></li>\n"
        "<li>three</li>\n</ul>\n"
        "<p>End.</p>\n"
        f"<p>{INS}A new paragraph.</ins></p>\n"
    )


def test_the_diff_escapes_the_text() -> None:
    # Typed markup is text (raw HTML is off), and stays text once marked.
    _, inserted, html = diff_of("a\n", "a <script>alert(1)</script>\n")
    assert inserted == ["script", "alert", "1", "script"]
    assert "<script>" not in html
    assert f"<p>a{INS} &lt;script&gt;alert(1)&lt;/script&gt;</ins></p>" in html


def test_same_text_is_an_empty_diff() -> None:
    diff = word_diff(render_markdown("same words\n"), render_markdown("same words\n"))
    assert diff.is_empty and diff.inserted == [] and diff.deleted == []


def test_in_a_page_headings_go_one_level_down() -> None:
    html = str(in_page(render_markdown("# Title\n\n## Part\n\n###### Small\n\ntext\n")))
    assert html == "<h2>Title</h2>\n<h3>Part</h3>\n<h6>Small</h6>\n<p>text</p>\n"


def test_unified_diff_of_a_known_pair() -> None:
    text = unified_diff(
        "a\nb\nc\n", "a\nB\nc\nd", old_name="policy/revisions/1", new_name="policy/revisions/2"
    )
    assert text == ("--- policy/revisions/1\n+++ policy/revisions/2\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n")
    assert unified_diff("x\n", "x\n", old_name="1", new_name="2") == ""
