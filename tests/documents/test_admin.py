"""The admin pages of documents: roles, CSRF, drafting with a preview, announcing, approval by a
second editor, withdrawal and corrections, through the forms a browser posts."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from registry.admin import documents as admin_documents
from registry.documents import services
from registry.documents.models import RevisionStatus
from registry.extensions import db
from tests.conftest import NOW, Users, csrf_token, seen_on, sign_in
from tests.documents.conftest import EFFECTIVE, SECOND, SLUG, Documents


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin_documents, "utcnow", lambda: NOW)


@pytest.fixture
def bob(app: Flask, users: Users) -> FlaskClient:
    client = app.test_client()
    users.create("bob@example.com", "editor")
    assert sign_in(client, "bob@example.com").status_code == 302
    return client


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf_token(client, "/admin/documents"), **(data or {})})


def _open_id(app: Flask) -> int:
    with app.app_context():
        document = services.get_document(db.session, SLUG)
        assert document is not None
        revision = services.open_revision(db.session, document) or services.upcoming_revision(
            db.session, document
        )
        assert revision is not None
        return revision.id


def test_only_admins_create_documents(editor: FlaskClient, admin: FlaskClient, app: Flask) -> None:
    data = {"slug": "dpa", "title": "Data processing agreement", "notice_period_days": "30"}
    assert "Create a document" not in editor.get("/admin/documents").get_data(as_text=True)
    assert post(editor, "/admin/documents/new", data).status_code == 403
    assert "Create a document" in admin.get("/admin/documents").get_data(as_text=True)
    response = post(admin, "/admin/documents/new", data)
    assert response.status_code == 302 and response.location.endswith("/admin/documents/dpa")
    again = post(admin, "/admin/documents/new", data)
    assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)
    bad = post(admin, "/admin/documents/new", {"slug": "Bad Slug", "title": "", "notice_period_days": "x"})
    assert bad.status_code == 422
    with app.app_context():
        assert [d.slug for d in services.all_documents(db.session)] == ["dpa"]


def test_forms_need_the_csrf_token(published: Documents, editor: FlaskClient) -> None:
    response = editor.post(f"/admin/documents/{SLUG}/draft", data={"body": "x", "action": "save"})
    assert response.status_code == 400


def test_settings_are_for_admins(
    published: Documents, editor: FlaskClient, admin: FlaskClient, app: Flask
) -> None:
    data = {"title": "Privacy notice", "notice_period_days": "14", "requires_approval": "y"}
    assert post(editor, f"/admin/documents/{SLUG}/settings", data).status_code == 403
    assert post(admin, f"/admin/documents/{SLUG}/settings", data).status_code == 302
    with app.app_context():
        document = services.get_document(db.session, SLUG)
        assert document is not None
        assert (document.title, document.notice_period_days, document.requires_approval) == (
            "Privacy notice",
            14,
            True,
        )


def test_draft_with_a_preview_then_announce(published: Documents, editor: FlaskClient, app: Flask) -> None:
    page = editor.get(f"/admin/documents/{SLUG}/draft").get_data(as_text=True)
    assert "We keep your email address." in page  # starts from the text in force
    body = SECOND + "\n<script>alert(1)</script>\n"
    preview = post(
        editor, f"/admin/documents/{SLUG}/draft", {"body": body, "summary": "S", "action": "preview"}
    )
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Preview (not saved)" in text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    with app.app_context():
        assert services.open_revision(db.session, services.get_document(db.session, SLUG)) is None  # type: ignore[arg-type]

    saved = post(
        editor, f"/admin/documents/{SLUG}/draft", {"body": SECOND, "summary": "Names.", "action": "save"}
    )
    assert saved.status_code == 302
    revision_id = _open_id(app)
    page = editor.get(f"/admin/document-revisions/{revision_id}").get_data(as_text=True)
    assert (
        '<del><span class="visually-hidden">deleted: </span>delete</del><ins><span class="visually-hidden">inserted: </span>correct</ins>'
        in page
    )  # changes from revision 1

    early = post(
        editor, f"/admin/document-revisions/{revision_id}/announce", {"effective_date": "2027-01-15"}
    )
    assert early.status_code == 422 and "notice period is 30 days" in early.get_data(as_text=True)
    response = post(
        editor,
        f"/admin/document-revisions/{revision_id}/announce",
        {"effective_date": EFFECTIVE.date().isoformat()},
    )
    assert response.status_code == 302
    revision = published.get(revision_id)
    assert revision.status is RevisionStatus.ANNOUNCED and revision.number == 2

    # Withdrawing asks first, saying who will be told; nothing changes until it is confirmed.
    asked = post(editor, f"/admin/document-revisions/{revision_id}/withdraw", {"reason": "Not yet."})
    assert asked.status_code == 200 and "It cannot be undone" in asked.get_data(as_text=True)
    assert published.get(revision_id).status is RevisionStatus.ANNOUNCED
    withdrawn = post(
        editor,
        f"/admin/document-revisions/{revision_id}/withdraw",
        {"reason": "Not yet.", "confirmed": "yes"},
    )
    assert withdrawn.status_code == 302
    assert published.get(revision_id).status is RevisionStatus.WITHDRAWN


def test_the_author_cannot_approve_another_editor_can(
    documents: Documents, editor: FlaskClient, bob: FlaskClient, app: Flask
) -> None:
    documents.create(requires_approval=True)
    documents.publish()
    assert (
        post(
            editor, f"/admin/documents/{SLUG}/draft", {"body": SECOND, "summary": "S.", "action": "save"}
        ).status_code
        == 302
    )
    revision_id = _open_id(app)
    asked = post(
        editor,
        f"/admin/document-revisions/{revision_id}/announce",
        {"effective_date": EFFECTIVE.date().isoformat()},
    )
    assert asked.status_code == 302 and documents.get(revision_id).status is RevisionStatus.PENDING_APPROVAL
    page = f"/admin/document-revisions/{revision_id}"
    assert "another person must approve it" in editor.get(page).get_data(as_text=True)
    seen = seen_on(bob, page)
    refused = post(editor, f"{page}/approve", {"seen": seen})
    assert refused.status_code == 422 and documents.get(revision_id).status is RevisionStatus.PENDING_APPROVAL
    assert "Approve and publish" in bob.get(page).get_data(as_text=True)
    # Only from the page that showed the text: a bare POST approves nothing.
    assert post(bob, f"{page}/approve").status_code == 422
    assert documents.get(revision_id).status is RevisionStatus.PENDING_APPROVAL
    assert post(bob, f"{page}/approve", {"seen": seen}).status_code == 302
    assert documents.get(revision_id).status is RevisionStatus.ANNOUNCED


def test_reject_and_publish_now(
    documents: Documents, editor: FlaskClient, bob: FlaskClient, app: Flask
) -> None:
    documents.create(requires_approval=True)
    assert (
        post(
            editor, f"/admin/documents/{SLUG}/draft", {"body": SECOND, "summary": "First.", "action": "save"}
        ).status_code
        == 302
    )
    revision_id = _open_id(app)
    post(
        editor,
        f"/admin/document-revisions/{revision_id}/announce",
        {"effective_date": EFFECTIVE.date().isoformat()},
    )
    assert post(bob, f"/admin/document-revisions/{revision_id}/reject", {"reason": ""}).status_code == 422
    assert (
        post(bob, f"/admin/document-revisions/{revision_id}/reject", {"reason": "Typo."}).status_code == 302
    )
    assert documents.get(revision_id).status is RevisionStatus.DRAFT
    assert post(editor, f"/admin/document-revisions/{revision_id}/publish").status_code == 302
    revision = documents.get(revision_id)
    assert revision.status is RevisionStatus.PUBLISHED and revision.number == 1


def test_editing_a_draft_keeps_a_concurrent_save(
    published: Documents, editor: FlaskClient, app: Flask
) -> None:
    revision_id = published.draft()
    data = {"body": "Mine\n", "summary": "S", "action": "save", "row_version": "1"}
    assert post(editor, f"/admin/document-revisions/{revision_id}", data).status_code == 302
    stale = post(editor, f"/admin/document-revisions/{revision_id}", {**data, "body": "Theirs\n"})
    assert stale.status_code == 409
    assert published.get(revision_id).body == "Mine\n"


def test_unknown_ids_are_404(editor: FlaskClient) -> None:
    assert editor.get("/admin/documents/nope").status_code == 404
    assert editor.get("/admin/document-revisions/999").status_code == 404
    assert editor.get("/admin/document-revisions/99999999999").status_code == 404


def test_every_step_is_in_the_audit_trail(published: Documents, editor: FlaskClient, app: Flask) -> None:
    from sqlalchemy import select

    from registry.audit.models import AuditEvent

    post(editor, f"/admin/documents/{SLUG}/draft", {"body": SECOND, "summary": "S.", "action": "save"})
    revision_id = _open_id(app)
    post(
        editor,
        f"/admin/document-revisions/{revision_id}/announce",
        {"effective_date": EFFECTIVE.date().isoformat()},
    )
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.target_id == str(revision_id))).all()
        assert [(e.action, e.actor) for e in events] == [
            ("document.revision.draft", "editor@example.com"),
            ("document.revision.announce", "editor@example.com"),
        ]
