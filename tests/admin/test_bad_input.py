"""Bad input on the workflow pages is a clear 4xx, never a 500, and changes nothing: a missing
CSRF token, unknown or non-numeric ids, a change of another list, dates in the wrong format,
decided notices, and garbage in every field of every form."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.audit.models import AuditEvent
from registry.extensions import db
from tests.admin.conftest import (
    SLUG,
    audit_actions,
    changes_of,
    entry_form,
    post,
    set_requires_approval,
    withdraw,
)
from tests.admin.test_workflow_pages import ANNOUNCE, announce_form, draft_addition, text
from tests.conftest import NOW, Registry, entry

pytestmark = pytest.mark.usefixtures("clock", "published")

# The endpoints of registry/admin/views.py (another module adds other admin pages).
WORKFLOW_ENDPOINTS = {
    "admin.dashboard",
    "admin.list_editor",
    "admin.entry_history",
    "admin.add_entry",
    "admin.update_entry",
    "admin.replace_entry",
    "admin.retire_entry",
    "admin.change",
    "admin.discard",
    "admin.announce",
    "admin.correction",
    "admin.notice",
    "admin.approve",
    "admin.reject",
    "admin.withdraw",
}


@pytest.fixture
def targets(app: Flask, editor: FlaskClient, published: Registry) -> dict[str, str]:
    """Real ids for every URL: a draft, a notice awaiting approval, and an announced notice."""
    announced = published.announce(
        SLUG, [("add", None, entry("Announced Co"))], effective_at=NOW + timedelta(days=40)
    )
    set_requires_approval(app)
    pending = published.announce(
        SLUG, [("add", None, entry("Pending Co"))], effective_at=NOW + timedelta(days=40)
    )
    draft = draft_addition(editor, app, "Draft Co")
    return {
        "slug": SLUG,
        "entry": "stripe",
        "change_id": str(draft),
        "notice_id": str(pending),
        "announced": str(announced),
    }


def workflow_urls(app: Flask, values: dict[str, str]) -> list[tuple[str, str]]:
    """(method, url) of every route of the workflow pages, built with ``values``."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in WORKFLOW_ENDPOINTS:
            continue
        url = rule.build({arg: values[arg] for arg in rule.arguments}, append_unknown=False)[1]  # type: ignore[index]
        found += [(method, url) for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]
    return found


def test_every_workflow_page_is_known_here(app: Flask) -> None:
    from registry.admin import views

    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")}
    mine = {e for e in endpoints if app.view_functions[e].__module__ == views.__name__}
    assert mine == WORKFLOW_ENDPOINTS


def test_every_form_needs_the_csrf_token(app: Flask, editor: FlaskClient, targets: dict[str, str]) -> None:
    urls = [url for method, url in workflow_urls(app, targets) if method == "POST"]
    assert len(urls) == 11
    events, changes = audit_actions(app), changes_of(app)
    for url in urls:
        response = editor.post(url, data={"reason": "x", "row_version": "1", "changes": targets["change_id"]})
        assert response.status_code == 400, url
        assert "CSRF" in text(response), url
    assert audit_actions(app) == events and changes_of(app) == changes


def test_every_page_renders(app: Flask, editor: FlaskClient, targets: dict[str, str]) -> None:
    for method, url in workflow_urls(app, targets):
        if method == "GET":
            assert editor.get(url).status_code == 200, url
    assert editor.get(f"/admin/notices/{targets['announced']}").status_code == 200


MALFORMED = [
    "/admin/lists/nope",
    "/admin/lists/nope/announce",
    "/admin/lists/nope/new-entry",
    "/admin/lists/" + "x" * 300,
    f"/admin/lists/{SLUG}/entries/nobody",
    f"/admin/lists/{SLUG}/entries/nobody/edit",
    f"/admin/lists/{SLUG}/entries/nobody/replace",
    "/admin/changes/999999",
    "/admin/changes/99999999999999999999",
    "/admin/changes/abc",
    "/admin/changes/-1",
    "/admin/changes/1.5",
    "/admin/notices/999999",
    "/admin/notices/99999999999999999999",
    "/admin/notices/%C2%B2",
]


def test_unknown_or_malformed_ids_are_404(editor: FlaskClient) -> None:
    for url in MALFORMED:
        assert editor.get(url).status_code == 404, url
        assert post(editor, url, {"reason": "x"}).status_code in (404, 405), url


def test_posts_to_unknown_ids_are_404(editor: FlaskClient) -> None:
    for url in [
        "/admin/changes/999999/discard",
        "/admin/notices/999999/approve",
        "/admin/notices/999999/reject",
        "/admin/notices/999999/withdraw",
        f"/admin/lists/{SLUG}/entries/nobody/retire",
        "/admin/lists/nope/correction",
    ]:
        assert post(editor, url, {"reason": "x"}).status_code == 404, url


BAD_ANNOUNCEMENTS: list[tuple[dict[str, object], str]] = [
    ({"changes": []}, "Choose at least one change."),
    ({"changes": ["abc"]}, "Choose changes from the list."),
    ({"changes": ["999999"]}, "There is no change 999999: choose changes from the list."),
    (
        {"changes": ["99999999999999999999"]},
        "There is no change 99999999999999999999: choose changes from the list.",
    ),
    ({"reason": ""}, "Give the public reason for this."),
    ({"reason": "x" * 2001}, "This text is 2001 characters long; the limit is 2000."),
    ({"effective_date": ""}, "Enter the effective date as YYYY-MM-DD"),
    ({"effective_date": "15/02/2027"}, "Enter the effective date as YYYY-MM-DD"),
    ({"effective_date": "2027-02-30"}, "Enter the effective date as YYYY-MM-DD"),
    ({"effective_date": "2027-02-15T10:00"}, "Enter the effective date as YYYY-MM-DD"),
    ({"effective_time": "25:00"}, "Enter the time as HH:MM"),
    ({"effective_time": "noon"}, "Enter the time as HH:MM"),
    ({"effective_date": "2026-01-01"}, "The effective date must be in the future."),
    ({"effective_date": "2027-01-11"}, "The list's notice period is 30 days"),
]


def test_bad_announcements_say_what_to_fix(app: Flask, editor: FlaskClient) -> None:
    change_id = draft_addition(editor, app)
    for overrides, message in BAD_ANNOUNCEMENTS:
        for action in ("preview", "announce"):
            response = post(editor, ANNOUNCE, announce_form(change_id, action=action, **overrides))  # type: ignore[arg-type]
            assert response.status_code == 422, (action, overrides)
            assert message in text(response), (action, overrides)
    assert changes_of(app)[-1][2] == "draft"
    assert not [a for a in audit_actions(app) if a.startswith("notice.")]


def test_a_change_of_another_list_is_refused(app: Flask, editor: FlaskClient, published: Registry) -> None:
    published.create_list("website", "Website subcontractors")
    other = post(
        editor, "/admin/lists/website/new-entry", entry_form("Elsewhere", transfer_mechanisms=["none"])
    )
    assert other.status_code == 302
    change_id = changes_of(app)[-1][0]
    for url, data in [
        (ANNOUNCE, announce_form(change_id)),
        (f"/admin/lists/{SLUG}/correction", {"changes": str(change_id), "reason": "Typo."}),
    ]:
        response = post(editor, url, data)
        assert response.status_code == 422
        assert f"Change {change_id} belongs to another list." in text(response)
    assert changes_of(app)[-1][2] == "draft"


def test_decided_notices_cannot_be_decided_again(
    app: Flask, editor: FlaskClient, bob: FlaskClient, targets: dict[str, str]
) -> None:
    announced, pending = targets["announced"], targets["notice_id"]
    # Deciding a notice already decided is a conflict with where it stands now.
    approving = post(bob, f"/admin/notices/{announced}/approve")
    assert "This notice is published: there is nothing to approve." in text(approving)
    assert 'name="seen"' not in text(approving)
    response = post(bob, f"/admin/notices/{announced}/reject", {"reason": "No."})
    assert response.status_code == 409 and "The notice is published, not pending approval." in text(response)
    # A notice awaiting approval is not public, so there is nothing to withdraw yet.
    refused = withdraw(editor, f"/admin/notices/{pending}", "Never mind.")
    assert refused.status_code == 409 and "can be withdrawn" in text(refused)
    # A draft's page cannot edit a change that is no longer a draft.
    with app.app_context():
        from registry.lists.models import Change, ChangeStatus

        announced_change = db.session.scalar(
            db.select(Change.id).where(Change.status == ChangeStatus.ANNOUNCED).limit(1)
        )
    response = post(editor, f"/admin/changes/{announced_change}", {**entry_form("X"), "row_version": "1"})
    assert response.status_code == 409 and "is announced, not draft" in text(response)
    assert post(editor, f"/admin/changes/{announced_change}/discard").status_code == 409


def test_a_lost_version_stamp_is_a_4xx(app: Flask, editor: FlaskClient, targets: dict[str, str]) -> None:
    urls = [
        f"/admin/changes/{targets['change_id']}",
        f"/admin/lists/{SLUG}/entries/stripe/edit",
        f"/admin/lists/{SLUG}/entries/stripe/retire",
    ]
    for row_version, url in itertools.product(["", "abc", "1e3", "²", "9" * 30, "-1"], urls):
        response = post(
            editor, url, {**entry_form("Stripe", locations="IE", purpose="New."), "row_version": row_version}
        )
        assert response.status_code in (409, 422), (url, row_version)


GARBAGE: list[dict[str, object]] = [
    {},
    {"changes": ["1", "x", "", "-5"], "reason": "\x00", "row_version": "\x00"},
    {"name": "é" * 10_000, "locations": ";;;,,,\n\n", "since": "0000-00-00", "kind": "x" * 500},
    {
        "effective_date": "9999-12-31",
        "effective_time": "23:59",
        "changes": ["1"],
        "reason": "r",
        "action": "announce",
    },
    {"effective_date": "0001-01-01", "effective_time": "00:00:00", "action": "preview"},
    {
        "transfer_mechanisms": ["scc", "none", "x" * 300],
        "data_categories": "=1+1",
        "website": "javascript:alert(1)",
    },
    {"id": "../../etc", "corporate_location": "\u202e", "row_version": "1", "action": "x" * 100},
]


def test_garbage_never_makes_a_500(app: Flask, editor: FlaskClient, targets: dict[str, str]) -> None:
    versions = audit_actions(app).count("version.correction")
    for method, url in workflow_urls(app, targets):
        if method != "POST":
            continue
        for data in GARBAGE:
            response = post(editor, url, data)  # type: ignore[arg-type]
            assert response.status_code < 500, (url, data)
    assert audit_actions(app).count("version.correction") == versions  # nothing was published


def test_audit_events_say_who_from_where_and_what(
    app: Flask, editor: FlaskClient, targets: dict[str, str]
) -> None:
    with app.app_context():
        events = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.actor == "editor@example.com")
        ).all()
        drafted = [e for e in events if e.action == "change.draft"]
    assert len(drafted) == 1
    assert drafted[0].target_id == targets["change_id"] and drafted[0].ip == "127.0.0.1"
    assert drafted[0].after["name"] == "Draft Co"
