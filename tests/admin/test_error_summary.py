"""Every admin form that comes back with problems says so at the top: a box listing each message
as a link to its field, the page title starting "Error: ", and each message a sentence that says
what to do. Plain POSTs, as a browser without JavaScript sends them."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.admin.conftest import SLUG, entry_form, post
from tests.conftest import Users

pytestmark = pytest.mark.usefixtures("clock", "published")

LIST = f"/admin/lists/{SLUG}"

# (what, path, what is sent): each is refused, with at least one message about a field.
FORMS: list[tuple[str, str, dict[str, Any]]] = [
    ("entry", f"{LIST}/new-entry", entry_form("", purpose="", locations="Narnia", website="ftp://x")),
    ("announce", f"{LIST}/announce", {"reason": "", "effective_date": "soon", "action": "preview"}),
    ("correction", f"{LIST}/correction", {"reason": "x" * 3000, "changes": ["999"]}),
    ("new user", "/admin/users", {"email": "not an address", "role": "editor", "password": "x"}),
    ("new list", "/admin/lists-settings", {"slug": "Not A Slug", "title": "", "notice_period_days": "x"}),
    ("list settings", f"/admin/lists-settings/{SLUG}", {"title": "", "notice_period_days": "-5"}),
    ("webhook", "/admin/webhooks", {"url": "ftp://example.com/hook"}),
    ("document", "/admin/documents/new", {"slug": "", "title": "", "notice_period_days": "x"}),
    ("token", "/admin/users/{me}/tokens", {"name": ""}),
]


def _summary(page: str) -> str:
    match = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', page, re.S)
    assert match, "no error summary"
    return match.group(0)


def _refused(admin: FlaskClient, users: Users, path: str, data: dict[str, Any]) -> str:
    if "{me}" in path:
        path = path.format(me=users.create("tokens@example.com"))
    response = post(admin, path, data)
    assert response.status_code in (400, 409, 422), response.status_code
    return response.get_data(as_text=True)


@pytest.mark.parametrize(("what", "path", "data"), FORMS, ids=[form[0] for form in FORMS])
def test_the_summary_links_to_each_field_with_a_problem(
    admin: FlaskClient, users: Users, what: str, path: str, data: dict[str, Any]
) -> None:
    page = _refused(admin, users, path, data)
    summary = _summary(page)
    assert 'role="alert"' in summary and 'tabindex="-1"' in summary
    count = summary.count("<li>")
    heading = "There is a problem" if count == 1 else f"There are {count} problems"
    assert f'<h2 id="error-summary-title">{heading}</h2>' in summary
    assert re.search(r"<title>Error: ", page), what
    # The summary comes before the page's own heading.
    assert page.index('class="error-summary"') < page.index("<h1")

    invalid = set(re.findall(r'id="([^"]+)"[^>]*aria-invalid="true"', page)) | set(
        re.findall(r'aria-invalid="true"[^>]*id="([^"]+)"', page)
    )
    targets = re.findall(r'<a href="#([^"]+)">', summary)
    assert targets, f"{what}: no message links to a field"
    for target in targets:
        assert f'id="{target}"' in page, f"{what}: the summary links to #{target}, which is not on the page"
        assert f'id="{target}-error"' in page, f"{what}: #{target} has no message of its own"
    # Every field marked invalid is in the summary (the countries' further boxes by the first's),
    # and its message is tied to it.
    boxes = {field_id for field_id in invalid if re.sub(r"-\d+$", "", field_id) in targets}
    assert invalid - boxes <= set(targets), (what, invalid, targets)
    for field_id in invalid:
        own = re.escape(field_id)
        error = re.escape(re.sub(r"-\d+$", "", field_id) if field_id in boxes else field_id) + "-error"
        assert re.search(rf'id="{own}"[^>]*aria-describedby="[^"]*{error}', page) or re.search(
            rf'aria-describedby="[^"]*{error}[^"]*"[^>]*id="{own}"', page
        ), field_id


@pytest.mark.parametrize(("what", "path", "data"), FORMS, ids=[form[0] for form in FORMS])
def test_every_message_is_a_sentence(
    admin: FlaskClient, users: Users, what: str, path: str, data: dict[str, Any]
) -> None:
    summary = _summary(_refused(admin, users, path, data))
    messages = [
        html.unescape(re.sub(r"<[^>]+>", "", item)).strip()
        for item in re.findall(r"<li>(.*?)</li>", summary, re.S)
    ]
    assert messages
    for message in messages:
        letter = next(ch for ch in message if ch.isalpha())
        assert letter.isupper() and message[0] == letter, (what, message)
        assert message.endswith("."), (what, message)


def test_a_page_without_problems_has_no_summary(admin: FlaskClient) -> None:
    page = admin.get(f"{LIST}/new-entry").get_data(as_text=True)
    assert "error-summary" not in page and "<title>Error" not in page
