"""The admin-only pages: users, their API tokens, lists and their settings. Each action is checked
for its effect (a session ended, a token refused, what readers see) and for its audit event."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from registry.accounts.models import ApiToken, Role, User
from registry.audit.models import AuditEvent
from registry.extensions import db
from registry.lists.models import RegisterList
from tests.conftest import PASSWORD, Registry, Users, csrf_token, entry, sign_in

NEW_PASSWORD = "a different long passphrase"


def post(client: FlaskClient, path: str, data: dict[str, Any], *, page: str = "/admin/users") -> TestResponse:
    """POST a form as the browser does, with the CSRF token of the page it was on."""
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data})


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def user_id(app: Flask, email: str) -> int:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        return user.id


def get_user(app: Flask, email: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        db.session.expunge(user)
        return user


def events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        db.session.expunge_all()
        return found


def count(app: Flask, model: type[Any]) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def by_admin(event: AuditEvent) -> bool:
    return event.actor == "admin@example.com" and event.ip == "127.0.0.1" and event.actor_id is not None


# --- users ---------------------------------------------------------------------------------------


def test_an_admin_creates_a_user_who_can_then_sign_in(admin: FlaskClient, app: Flask) -> None:
    response = post(
        admin, "/admin/users", {"email": "New@Example.com", "role": "editor", "password": PASSWORD}
    )
    assert response.status_code == 302
    new_id = user_id(app, "new@example.com")
    assert response.location == f"/admin/users/{new_id}"
    page = text(admin.get(response.location))
    assert "new@example.com can now sign in as editor" in page
    assert "new@example.com" in text(admin.get("/admin/users"))

    assert sign_in(app.test_client(), "new@example.com").status_code == 302
    [event] = [e for e in events(app, "user.create") if e.target_id == str(new_id)]
    assert by_admin(event)
    assert event.after["email"] == "new@example.com" and event.after["role"] == "editor"  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "admin@example.com"}, "A user with this address exists already"),
        ({"password": "too short"}, "Choose a password of at least 12 characters."),
        ({"role": "boss"}, "Choose the role editor or admin."),
        ({"email": "not-an-address"}, "@-sign"),
    ],
)
def test_bad_new_users_are_refused_with_a_message(
    admin: FlaskClient, app: Flask, data: dict[str, str], message: str
) -> None:
    before = count(app, User)
    form = {"email": "ed@example.com", "role": "editor", "password": PASSWORD, **data}
    response = post(admin, "/admin/users", form)
    assert response.status_code == 422
    assert message in text(response)
    assert 'aria-invalid="true"' in text(response)
    assert count(app, User) == before


def _targets(app: Flask, users: Users) -> dict[str, str]:
    users.create("ed@example.com")
    ed = user_id(app, "ed@example.com")
    users.token("ed@example.com")
    with app.app_context():
        token = db.session.scalar(select(ApiToken.id))
    Registry(app).create_list()
    return {"ed": str(ed), "token": str(token)}


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/admin/users", {"email": "x@example.com", "role": "admin", "password": PASSWORD}),
        ("/admin/users/{ed}", {"role": "admin", "active": "y"}),
        ("/admin/users/{ed}/password", {"password": NEW_PASSWORD}),
        ("/admin/users/{ed}/tokens", {"name": "CI"}),
        ("/admin/users/{ed}/tokens/{token}/revoke", {}),
        (
            "/admin/lists-settings",
            {"slug": "x", "title": "X", "notice_period_days": "30", "objection_closes_days_before": "1"},
        ),
        (
            "/admin/lists-settings/sub-processors",
            {"title": "Changed", "notice_period_days": "30", "objection_closes_days_before": "1"},
        ),
    ],
)
def test_every_form_needs_the_csrf_token(
    admin: FlaskClient, app: Flask, users: Users, path: str, data: dict[str, str]
) -> None:
    path = path.format(**_targets(app, users))
    audited = count(app, AuditEvent)
    response = admin.post(path, data=data)
    assert response.status_code == 400
    assert "CSRF" in text(response)
    assert count(app, AuditEvent) == audited  # nothing was done, so nothing was recorded
    # The same form with the token goes through: the 400 above was the token, nothing else.
    assert post(admin, path, data).status_code in (200, 302)
    assert count(app, AuditEvent) > audited


def test_editors_are_refused_the_admin_pages(editor: FlaskClient, users: Users, app: Flask) -> None:
    users.create("other@example.com")
    other = user_id(app, "other@example.com")
    for path in ("/admin/users", f"/admin/users/{other}", "/admin/lists-settings"):
        assert editor.get(path).status_code == 403, path
    token = csrf_token(editor, "/admin/")
    response = editor.post(
        f"/admin/users/{other}", data={"csrf_token": token, "role": "admin", "active": "y"}
    )
    assert response.status_code == 403
    assert get_user(app, "other@example.com").role is Role.EDITOR


def test_a_role_change_takes_effect_and_ends_the_sessions(
    admin: FlaskClient, client: FlaskClient, users: Users, app: Flask
) -> None:
    users.create("ed@example.com")
    ed = user_id(app, "ed@example.com")
    sign_in(client, "ed@example.com")
    assert client.get("/admin/users").status_code == 403

    response = post(admin, f"/admin/users/{ed}", {"role": "admin", "active": "y"})
    assert response.status_code == 302
    assert "Their sessions are signed out" in text(admin.get(response.location))
    assert get_user(app, "ed@example.com").role is Role.ADMIN
    # Ed's old session is over; signed in again, Ed is an admin.
    assert client.get("/admin/").status_code == 302
    sign_in(client, "ed@example.com")
    assert client.get("/admin/users").status_code == 200

    [event] = events(app, "user.update")
    assert by_admin(event) and event.target_id == str(ed)
    assert event.before["role"] == "editor" and event.after["role"] == "admin"  # type: ignore[index]

    post(admin, f"/admin/users/{ed}", {"role": "editor", "active": "y"})
    sign_in(client, "ed@example.com")
    assert client.get("/admin/users").status_code == 403


def test_a_deactivated_user_is_signed_out_and_their_tokens_stop_working(
    admin: FlaskClient, client: FlaskClient, users: Users, app: Flask
) -> None:
    users.create("ed@example.com")
    ed = user_id(app, "ed@example.com")
    bearer = {"Authorization": f"Bearer {users.token('ed@example.com')}"}
    sign_in(client, "ed@example.com")
    assert client.get("/admin/").status_code == 200
    assert app.test_client().get("/api/v1/lists", headers=bearer).status_code == 200

    # An unticked checkbox is not sent at all: that is what deactivating looks like.
    assert post(admin, f"/admin/users/{ed}", {"role": "editor"}).status_code == 302
    assert get_user(app, "ed@example.com").active is False
    response = client.get("/admin/")
    assert response.status_code == 302 and response.location.startswith("/sign-in")
    assert sign_in(client, "ed@example.com").status_code == 401
    assert app.test_client().get("/api/v1/lists", headers=bearer).status_code == 401
    [event] = events(app, "user.update")
    assert by_admin(event) and event.before["active"] is True and event.after["active"] is False  # type: ignore[index]
    assert re.search(r'data-label="Active">No<', text(admin.get("/admin/users")))


@pytest.mark.parametrize("data", [{"role": "editor", "active": "y"}, {"role": "admin"}])
def test_an_admin_cannot_demote_or_deactivate_themselves(
    admin: FlaskClient, app: Flask, data: dict[str, str]
) -> None:
    me = user_id(app, "admin@example.com")
    response = post(admin, f"/admin/users/{me}", data)
    assert response.status_code == 422
    assert "You cannot remove your own admin rights or deactivate yourself" in text(response)
    user = get_user(app, "admin@example.com")
    assert user.role is Role.ADMIN and user.active
    assert admin.get("/admin/users").status_code == 200
    assert events(app, "user.update") == []


def test_saving_an_unchanged_user_changes_nothing(
    admin: FlaskClient, client: FlaskClient, users: Users, app: Flask
) -> None:
    users.create("ed@example.com")
    sign_in(client, "ed@example.com")
    response = post(
        admin, f"/admin/users/{user_id(app, 'ed@example.com')}", {"role": "editor", "active": "y"}
    )
    assert response.status_code == 302
    assert "Nothing to save" in text(admin.get(response.location))
    assert events(app, "user.update") == []
    assert client.get("/admin/").status_code == 200  # still signed in


def test_an_admin_can_require_a_second_factor(
    admin: FlaskClient, client: FlaskClient, users: Users, app: Flask
) -> None:
    users.create("ed@example.com")
    sign_in(client, "ed@example.com")
    ed = user_id(app, "ed@example.com")
    data = {"role": "editor", "active": "y", "second_factor_required": "y"}
    assert post(admin, f"/admin/users/{ed}", data).status_code == 302
    assert get_user(app, "ed@example.com").totp_required is True
    assert client.get("/admin/").location == "/account/two-factor"
    [event] = events(app, "user.update")
    assert by_admin(event)
    assert event.before["second_factor_required"] is False  # type: ignore[index]
    assert event.after["second_factor_required"] is True  # type: ignore[index]


def test_an_admin_resets_a_password(
    admin: FlaskClient, client: FlaskClient, users: Users, app: Flask
) -> None:
    users.create("ed@example.com")
    ed = user_id(app, "ed@example.com")
    sign_in(client, "ed@example.com")

    response = post(admin, f"/admin/users/{ed}/password", {"password": "short"})
    assert response.status_code == 422 and "Choose a password of at least 12 characters." in text(response)
    assert client.get("/admin/").status_code == 200

    response = post(admin, f"/admin/users/{ed}/password", {"password": NEW_PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302  # signed out everywhere
    assert sign_in(client, "ed@example.com", PASSWORD).status_code == 401
    assert sign_in(client, "ed@example.com", NEW_PASSWORD).status_code == 302
    [event] = events(app, "user.password_change")
    assert by_admin(event) and event.target_id == str(ed)
    assert NEW_PASSWORD not in repr((event.summary, event.before, event.after))


def test_an_admin_changes_their_own_password_on_their_account_page(admin: FlaskClient, app: Flask) -> None:
    me = user_id(app, "admin@example.com")
    response = post(admin, f"/admin/users/{me}/password", {"password": NEW_PASSWORD})
    assert response.status_code == 422
    assert "Change your own password on your account page" in text(response)
    assert events(app, "user.password_change") == []


# --- API tokens ----------------------------------------------------------------------------------


def test_a_token_is_shown_once_works_and_stops_working_when_revoked(
    admin: FlaskClient, users: Users, app: Flask
) -> None:
    users.create("ed@example.com")
    ed = user_id(app, "ed@example.com")
    page = f"/admin/users/{ed}"
    response = post(admin, f"{page}/tokens", {"name": "CI pipeline"}, page=page)
    assert response.status_code == 200
    shown = re.findall(r"prt_[A-Za-z0-9_-]{40,}", text(response))
    assert len(set(shown)) == 1
    token = shown[0]
    assert "Copy this token now" in text(response)
    # Never kept anywhere a browser could show it again: not in the session, not on the page.
    assert token not in str(response.headers)
    with admin.session_transaction() as session:
        assert token not in repr(dict(session))
    listing = text(admin.get(page))
    assert token not in listing
    assert "CI pipeline" in listing and token[:12] in listing

    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/lists", headers=headers).status_code == 200

    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "CI pipeline"))
    response = post(admin, f"{page}/tokens/{token_id}/revoke", {}, page=page)
    assert response.status_code == 302
    assert api.get("/api/v1/lists", headers=headers).status_code == 401
    assert "was revoked already" in text(
        admin.get(post(admin, f"{page}/tokens/{token_id}/revoke", {}, page=page).location)
    )

    [created] = [e for e in events(app, "token.create") if e.actor != "system"]
    [revoked] = events(app, "token.revoke")
    assert by_admin(created) and by_admin(revoked)
    assert created.target_id == revoked.target_id == str(token_id)
    assert token not in repr((created.summary, revoked.summary))


def test_a_token_needs_a_name(admin: FlaskClient, users: Users, app: Flask) -> None:
    users.create("ed@example.com")
    ed = user_id(app, "ed@example.com")
    response = post(admin, f"/admin/users/{ed}/tokens", {"name": "  "}, page=f"/admin/users/{ed}")
    assert response.status_code == 422
    assert "Give the token a name" in text(response)
    assert count(app, ApiToken) == 0


def test_unknown_ids_are_404(admin: FlaskClient, users: Users, app: Flask) -> None:
    users.create("ed@example.com")
    users.create("bob@example.com")
    ed, bob = user_id(app, "ed@example.com"), user_id(app, "bob@example.com")
    users.token("bob@example.com")
    with app.app_context():
        bobs_token = db.session.scalar(select(ApiToken.id))
    for path in ("/admin/users/9999", "/admin/users/99999999999", "/admin/lists-settings/nope",
                 "/admin/lists-settings/" + "x" * 300):  # fmt: skip
        assert admin.get(path).status_code == 404, path
    for path in ("/admin/users/9999", "/admin/users/9999/password", "/admin/users/99999999999/tokens",
                 f"/admin/users/{ed}/tokens/{bobs_token}/revoke", f"/admin/users/{bob}/tokens/99999999999/revoke"):  # fmt: skip
        assert (
            post(admin, path, {"role": "editor", "password": NEW_PASSWORD, "name": "x"}).status_code == 404
        ), path
    assert events(app, "token.revoke") == []


# --- lists and their settings --------------------------------------------------------------------

NEW_LIST = {
    "slug": "subcontractors",
    "title": "Subcontractors",
    "introduction": "Companies that work for us.",
    "notice_period_days": "14",
    "objection_closes_days_before": "2",
    "requires_approval": "y",
}


def test_an_admin_creates_a_list(admin: FlaskClient, app: Flask) -> None:
    response = post(admin, "/admin/lists-settings", NEW_LIST, page="/admin/lists-settings")
    assert response.status_code == 302
    assert response.location == "/admin/lists-settings/subcontractors"
    with app.app_context():
        created = db.session.scalar(select(RegisterList).where(RegisterList.slug == "subcontractors"))
        assert created is not None
        assert (created.title, created.introduction) == ("Subcontractors", "Companies that work for us.")
        assert (created.notice_period_days, created.objection_closes_days_before) == (14, 2)
        assert created.requires_approval is True
    assert "Subcontractors" in text(admin.get("/admin/lists-settings"))
    [event] = events(app, "list.create")
    assert by_admin(event)
    assert event.after["slug"] == "subcontractors" and event.after["notice_period_days"] == 14  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"notice_period_days": "abc"}, "Enter a whole number of days from 0 to 365."),
        ({"notice_period_days": ""}, "Enter a whole number of days from 0 to 365."),
        ({"notice_period_days": "²"}, "Enter a whole number of days from 0 to 365."),
        ({"notice_period_days": "1" * 50}, "Enter a whole number of days from 0 to 365."),
        ({"notice_period_days": "-1"}, "Enter a whole number of days from 0 to 365."),
        ({"notice_period_days": "366"}, "Enter a whole number of days from 0 to 365."),
        ({"objection_closes_days_before": "61"}, "Enter a whole number of days from 0 to 60."),
        ({"title": " "}, "Enter a title for the list"),
        ({"slug": "Bad Slug"}, "Enter a slug of lowercase letters, digits and single hyphens"),
        ({"slug": "sub-processors"}, "list with the slug &#39;sub-processors&#39; already exists"),
    ],
)
def test_bad_lists_are_refused_with_a_message(
    admin: FlaskClient, registry: Registry, app: Flask, data: dict[str, str], message: str
) -> None:
    registry.create_list()
    response = post(admin, "/admin/lists-settings", {**NEW_LIST, **data}, page="/admin/lists-settings")
    assert response.status_code == 422
    assert message in text(response)
    assert count(app, RegisterList) == 1


def test_every_problem_of_a_new_list_is_shown_at_once(admin: FlaskClient, app: Flask) -> None:
    data = {**NEW_LIST, "slug": "Bad Slug", "title": "", "notice_period_days": "abc"}
    response = post(admin, "/admin/lists-settings", data, page="/admin/lists-settings")
    assert response.status_code == 422
    body = text(response)
    for message in (
        "Enter a slug of lowercase letters",
        "Enter a title for the list",
        "Enter a whole number of days from 0 to 365.",
    ):
        assert message in body
    assert 'value="abc"' in body  # what was typed is kept, to be corrected
    assert count(app, RegisterList) == 0


SETTINGS = {
    "title": "Our sub-processors",
    "introduction": "Who processes personal data for us.",
    "notice_period_days": "45",
    "objection_closes_days_before": "3",
}


def test_a_settings_change_is_what_readers_see(
    admin: FlaskClient, client: FlaskClient, registry: Registry, app: Flask
) -> None:
    registry.create_list()
    registry.publish("sub-processors", entry("Stripe"))
    page = "/admin/lists-settings/sub-processors"
    before = client.get("/processors.json")
    assert before.get_json()["list"]["title"] == "Sub-processors"

    response = post(admin, page, {**SETTINGS, "requires_approval": "y"}, page=page)
    assert response.status_code == 302 and response.location == page
    assert "are saved" in text(admin.get(page))
    after = client.get("/processors.json", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.get_json()["list"]["title"] == "Our sub-processors"
    with app.app_context():
        saved = db.session.scalar(select(RegisterList))
        assert saved is not None
        assert (saved.notice_period_days, saved.objection_closes_days_before) == (45, 3)
        assert saved.requires_approval is True

    [event] = events(app, "list.settings")
    assert by_admin(event)
    assert event.before["title"] == "Sub-processors" and event.after["title"] == "Our sub-processors"  # type: ignore[index]
    assert event.before["requires_approval"] is False and event.after["requires_approval"] is True  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"notice_period_days": "thirty"}, "Enter a whole number of days from 0 to 365."),
        ({"objection_closes_days_before": "-5"}, "Enter a whole number of days from 0 to 60."),
        ({"title": ""}, "Enter a title for the list"),
    ],
)
def test_bad_settings_are_refused_and_readers_see_no_change(
    admin: FlaskClient,
    client: FlaskClient,
    registry: Registry,
    app: Flask,
    data: dict[str, str],
    message: str,
) -> None:
    registry.create_list()
    registry.publish("sub-processors", entry("Stripe"))
    etag = client.get("/processors.json").headers["ETag"]
    page = "/admin/lists-settings/sub-processors"
    response = post(admin, page, {**SETTINGS, **data}, page=page)
    assert response.status_code == 422
    assert message in text(response)
    assert client.get("/processors.json", headers={"If-None-Match": etag}).status_code == 304
    assert events(app, "list.settings") == []


def test_saving_unchanged_settings_records_nothing(
    admin: FlaskClient, registry: Registry, app: Flask
) -> None:
    registry.create_list()
    page = "/admin/lists-settings/sub-processors"
    data = {"title": "Sub-processors", "introduction": "", "notice_period_days": "30",
            "objection_closes_days_before": "1"}  # fmt: skip
    response = post(admin, page, data, page=page)
    assert response.status_code == 302
    assert "Nothing to save" in text(admin.get(page))
    assert events(app, "list.settings") == []
