"""A long list stays readable and cheap: grouped by kind and then by first letter with an index
of the groups, each entry's row rendered once and reused by later versions, every value escaped."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask

from registry.lists.rows import LETTER_GROUPS_FROM, RowCache, first_letter
from tests.conftest import NOW, Registry, entry

NAMES = [f"{letter}{word} {number}" for letter in "ABCZ" for word in ("lpha", "eta") for number in range(15)]


def _long_list(registry: Registry) -> list[str]:
    names = [*NAMES, "3D Vendor", "Élan Analytics"]
    assert len(names) >= LETTER_GROUPS_FROM
    registry.create_list()
    registry.publish("sub-processors", *(entry(name) for name in names), entry("Helper", kind="affiliate"))
    return names


def _row_names(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><span class="name">(.*?)</span>', html)


def test_a_long_kind_is_cut_by_first_letter_with_an_index(registry: Registry, client) -> None:
    names = _long_list(registry)
    html = client.get("/processors").get_data(as_text=True)
    # Every entry once, in the list's order (kind, then name), whatever the grouping.
    assert sorted(_row_names(html)) == sorted([*names, "Helper"])
    letters = re.findall(r'<h3 id="kind-subprocessor-([a-z]+)">', html)
    assert letters == ["a", "b", "c", "e", "z", "other"]
    # The index links to every group and letter, and each link has its heading.
    index = html.split('<nav class="groups"')[1].split("</nav>")[0]
    targets = re.findall(r'href="#([^"]+)"', index)
    assert "kind-subprocessor" in targets and "kind-affiliate" in targets
    assert "kind-subprocessor-z" in targets and "kind-subprocessor-other" in targets
    for target in targets:
        assert f'id="{target}"' in html
    # The short kind stays one table, without letters.
    assert 'id="kind-affiliate-' not in html
    assert 'data-label="Purpose">Élan Analytics does things for us.</td>' in html


def test_a_short_list_has_no_letters_and_no_index(registry: Registry, client) -> None:
    registry.create_list()
    registry.publish("sub-processors", entry("Acme"), entry("Beta"))
    html = client.get("/processors").get_data(as_text=True)
    assert _row_names(html) == ["Acme", "Beta"]
    assert "<h3 id=" not in html.split('<section class="kind"')[1]
    assert 'class="groups"' not in html


def test_a_new_version_renders_only_its_new_rows(registry: Registry, client, app: Flask) -> None:
    names = _long_list(registry)
    rows: RowCache = app.extensions["entry_rows"]
    client.get("/processors")
    rendered = rows.renders
    assert rendered >= len(names)
    registry.publish("sub-processors", entry("Delta 1"), now=NOW + timedelta(days=1))
    html = client.get("/processors").get_data(as_text=True)
    assert "Delta 1" in _row_names(html)
    assert rows.renders == rendered + 1
    # The past version's page reuses the same rows: nothing is rendered again.
    assert client.get("/processors/versions/1").status_code == 200
    assert rows.renders == rendered + 1


def test_every_value_in_a_row_is_escaped(registry: Registry, client) -> None:
    registry.create_list()
    registry.publish(
        "sub-processors",
        entry(
            'Quote "&" <Co>',
            legal_entity="O'Brien <b>Ltd</b>",
            purpose="Mail <script>alert(1)</script>",
            scope="Only <i>some</i>",
            website='https://example.com/?a=1&b="2"',
        ),
    )
    html = client.get("/processors").get_data(as_text=True)
    assert "<script>alert" not in html and "<b>Ltd" not in html and "<i>some" not in html
    assert '<span class="name">Quote &#34;&amp;&#34; &lt;Co&gt;</span>' in html
    assert '<span class="entity">O&#39;Brien &lt;b&gt;Ltd&lt;/b&gt;, Germany</span>' in html
    assert 'href="https://example.com/?a=1&amp;b=&#34;2&#34;"' in html
    assert "Mail &lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_names_are_filed_by_their_first_letter_without_accents() -> None:
    assert first_letter("Élan") == "E"
    assert first_letter("  zeta") == "Z"
    assert first_letter("3D") == "#"
    assert first_letter("") == "#"
    # One letter, even where upper case makes two of one ("ß" is "SS"): a heading is a letter.
    assert first_letter("ßeta") == "S"
