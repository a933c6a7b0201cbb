"""Two editors at work on the same thing: the second gets a 409 page that shows the first one's
change next to their own input, which is kept, and can save it deliberately. Nothing is lost."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.audit.services import Actor
from registry.extensions import db
from registry.lists import services, workflow
from registry.lists.models import Change
from tests.admin.conftest import SLUG, audit_actions, changes_of, entry_form, post
from tests.admin.test_workflow_pages import hidden, text
from tests.conftest import NOW, entry

pytestmark = pytest.mark.usefixtures("clock", "published")

EDIT = f"/admin/lists/{SLUG}/entries/stripe/edit"


def stripe(purpose: str, **fields: str) -> dict[str, str]:
    return entry_form("Stripe", locations="IE", purpose=purpose, **fields)


def proposal(app: Flask, change_id: int) -> dict[str, object]:
    with app.app_context():
        change = db.session.get(Change, change_id)
        assert change is not None and change.proposed is not None
        return change.proposed


def test_two_editors_drafting_the_same_entry(app: Flask, editor: FlaskClient, bob: FlaskClient) -> None:
    # Both open the form for Stripe.
    row_version = hidden(text(editor.get(EDIT)), "row_version")
    assert hidden(text(bob.get(EDIT)), "row_version") == row_version

    first = post(editor, EDIT, {**stripe("Payments, by the first editor."), "row_version": row_version})
    assert first.status_code == 302
    change_id = changes_of(app)[-1][0]

    second = post(bob, EDIT, {**stripe("Payments and fraud checks, by Bob."), "row_version": row_version})
    assert second.status_code == 409
    page = text(second)
    assert f"Stripe already has an open draft by editor@example.com (change {change_id})" in page
    assert f'href="/admin/changes/{change_id}"' in page
    assert "Payments, by the first editor." in page  # their change, shown
    assert "Payments and fraud checks, by Bob.</textarea>" in page  # Bob's input, kept in the form
    # Saving the kept input goes into the other draft, against its current row_version.
    assert f'action="/admin/changes/{change_id}"' in page
    assert f"Save my input into change {change_id}" in page
    assert changes_of(app)[-1][0] == change_id  # no second draft
    assert proposal(app, change_id)["purpose"] == "Payments, by the first editor."

    resolved = post(
        bob,
        f"/admin/changes/{change_id}",
        {**stripe("Payments and fraud checks, by Bob."), "row_version": hidden(page, "row_version")},
    )
    assert resolved.status_code == 302
    assert proposal(app, change_id)["purpose"] == "Payments and fraud checks, by Bob."
    assert audit_actions(app, "bob@example.com")[-1] == "change.edit"


def test_an_entry_changed_since_the_form_was_opened(app: Flask, editor: FlaskClient) -> None:
    row_version = hidden(text(editor.get(EDIT)), "row_version")
    # Meanwhile a correction is published (through the API, say): Stripe's row changes.
    with app.app_context():
        register_list = services.get_list(db.session, SLUG)
        assert register_list is not None
        change = workflow.draft_change(
            db.session,
            register_list,
            "update",
            processor="stripe",
            fields=entry("Stripe", locations=["IE"], website="https://stripe.com"),
            now=NOW,
            actor=Actor(None, "api"),
        )
        workflow.correct(db.session, register_list, [change], reason="Link.", now=NOW)
        db.session.commit()

    stale = post(editor, EDIT, {**stripe("Payments, with my edit."), "row_version": row_version})
    assert stale.status_code == 409
    page = text(stale)
    assert "Stripe was changed since you opened it; compare with what it holds now." in page
    assert "https://stripe.com" in page  # what it holds now
    assert "Payments, with my edit.</textarea>" in page  # what this editor typed
    assert re.search(r'<tr class="differs"><th scope="row">Purpose', page)
    newer = hidden(page, "row_version")
    assert newer != row_version
    assert [c[2] for c in changes_of(app)].count("draft") == 0

    # Having seen it, the editor saves their version on purpose.
    saved = post(editor, EDIT, {**stripe("Payments, with my edit."), "row_version": newer})
    assert saved.status_code == 302
    assert changes_of(app)[-1][1:3] == ("update", "draft")


def test_a_draft_saved_by_someone_else_meanwhile(app: Flask, editor: FlaskClient, bob: FlaskClient) -> None:
    post(editor, EDIT, {**stripe("First."), "row_version": hidden(text(editor.get(EDIT)), "row_version")})
    change_id = changes_of(app)[-1][0]
    path = f"/admin/changes/{change_id}"
    seen = hidden(text(editor.get(path)), "row_version")

    assert post(bob, path, {**stripe("Bob's wording."), "row_version": seen}).status_code == 302
    stale = post(editor, path, {**stripe("My wording."), "row_version": seen})
    assert stale.status_code == 409
    page = text(stale)
    assert "Someone else saved this draft since you opened it." in page
    assert "Bob's wording." in page and "My wording.</textarea>" in page
    assert proposal(app, change_id)["purpose"] == "Bob's wording."

    saved = post(editor, path, {**stripe("My wording."), "row_version": hidden(page, "row_version")})
    assert saved.status_code == 302
    assert proposal(app, change_id)["purpose"] == "My wording."


def test_retiring_an_entry_with_an_open_draft(app: Flask, editor: FlaskClient, bob: FlaskClient) -> None:
    post(editor, EDIT, {**stripe("First."), "row_version": hidden(text(editor.get(EDIT)), "row_version")})
    change_id = changes_of(app)[-1][0]
    # The list editor shows the open draft instead of the actions.
    assert f'href="/admin/changes/{change_id}"' in text(bob.get(f"/admin/lists/{SLUG}"))
    refused = post(bob, f"/admin/lists/{SLUG}/entries/stripe/retire", {"row_version": "1"})
    assert refused.status_code == 409
    assert f"(change {change_id})" in text(refused)
    assert len(changes_of(app)) == 3  # the two published additions and the one draft


def test_a_stale_retirement_can_be_confirmed(app: Flask, editor: FlaskClient) -> None:
    stale = post(editor, f"/admin/lists/{SLUG}/entries/stripe/retire", {"row_version": "0"})
    assert stale.status_code == 409
    page = text(stale)
    assert "Draft the retirement anyway" in page
    confirmed = post(
        editor, f"/admin/lists/{SLUG}/entries/stripe/retire", {"row_version": hidden(page, "row_version")}
    )
    assert confirmed.status_code == 302
    assert changes_of(app)[-1][1:3] == ("retire", "draft")
