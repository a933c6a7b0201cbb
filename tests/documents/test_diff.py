"""Word and unified diffs of two Markdown sources."""

from __future__ import annotations

from registry.documents.diff import unified_diff, word_diff


def test_word_diff_of_a_known_pair() -> None:
    diff = word_diff(
        "We keep your email address.\n\nYou may ask us to delete it.\n",
        "We keep your email address and your name.\n\nYou may ask us to correct it.\n",
    )
    assert diff.deleted == ["address.", "delete"]
    assert diff.inserted == ["address", "and", "your", "name.", "correct"]
    assert str(diff.as_html()) == (
        "We keep your email <del>address.</del><ins>address and your name.</ins><br>\n<br>\n"
        "You may ask us to <del>delete</del><ins>correct</ins> it.<br>\n"
    )


def test_word_diff_escapes_the_text() -> None:
    diff = word_diff("a <b>", "a <script>")
    assert "<script>" not in str(diff.as_html())
    assert "<ins>&lt;script&gt;</ins>" in str(diff.as_html())


def test_same_text_is_an_empty_diff() -> None:
    diff = word_diff("same words\n", "same words\n")
    assert diff.is_empty and diff.inserted == [] and diff.deleted == []


def test_unified_diff_of_a_known_pair() -> None:
    text = unified_diff(
        "a\nb\nc\n", "a\nB\nc\nd", old_name="policy/revisions/1", new_name="policy/revisions/2"
    )
    assert text == ("--- policy/revisions/1\n+++ policy/revisions/2\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n")
    assert unified_diff("x\n", "x\n", old_name="1", new_name="2") == ""
