"""Markdown is rendered safely: whatever an editor types, readers never get script."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from registry.documents.rendering import render_markdown


class _Tags(HTMLParser):
    """Every element and attribute a browser would build from the HTML (text is not markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "Hello <script>alert(1)</script> there",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        '<img src=x onerror="alert(1)">',
        "<a href='https://e.com' onclick='alert(1)'>x</a>",
        "<iframe src='https://evil.example'></iframe>",
        "<div style='color:red'>x</div>",
        "![pixel](https://tracker.example/p.gif)",
        "![pixel](//tracker.example/p.gif)",
        "![x](javascript:alert(1))",
        '[x](https://e.com "t" onmouseover=alert(1))',
        "<!-- comment --><style>body{}</style>",
    ],
)
def test_dangerous_input_is_neutralised(source: str) -> None:
    for tag, attrs in _elements(render_markdown(source)):
        assert tag in ("p", "a", "img"), tag
        assert not any(name.startswith("on") or name == "style" for name in attrs), attrs
        for name in ("href", "src"):
            value = (attrs.get(name) or "").lower()
            assert not value.startswith(("javascript:", "data:", "//")), value
        if tag == "img":
            assert "src" not in attrs or str(attrs["src"]).startswith("/")


def test_raw_html_is_shown_as_text() -> None:
    assert "&lt;script&gt;" in render_markdown("<script>alert(1)</script>")


def test_structure_is_kept() -> None:
    html = render_markdown(
        "# Title\n\n## Section\n\n- one\n- two\n\n1. first\n\n*em* **strong** `code`\n\n"
        "[link](https://example.com/privacy)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted\n"
    )
    for fragment in (
        "<h1>Title</h1>",
        "<h2>Section</h2>",
        "<ul>",
        "<li>one</li>",
        "<ol>",
        "<em>em</em>",
        "<strong>strong</strong>",
        "<code>code</code>",
        "<table>",
        "<th>a</th>",
        "<td>2</td>",
        "<blockquote>",
    ):
        assert fragment in html, fragment
    assert '<a href="https://example.com/privacy" rel="nofollow noopener">link</a>' in html


def test_mailto_links_and_local_images_are_kept() -> None:
    html = render_markdown("[write](mailto:privacy@example.com) ![logo](/static/favicon.svg)")
    assert 'href="mailto:privacy@example.com"' in html
    assert '<img src="/static/favicon.svg" alt="logo">' in html
