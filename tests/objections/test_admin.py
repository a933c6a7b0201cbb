"""The admin side of objections: the list per notice with its counts and window, the dashboard,
the notice page, marking an objection handled, the CSV export, and who may see any of it."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from registry.audit.models import AuditEvent
from registry.extensions import db
from registry.objections.models import Objection, ObjectionStatus
from registry.objections.services import CSV_COLUMNS
from tests.conftest import NOW, Registry, Users, sign_in
from tests.objections.conftest import DEADLINE, Announced, Clock, admin_post, announce_addition, receive


def text(response: TestResponse) -> str:
    """What the page reads as: tags dropped, white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def markup(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def objection_row(app: Flask, objection_id: int) -> Objection:
    with app.app_context():
        objection = db.session.get(Objection, objection_id)
        assert objection is not None
        db.session.expunge(objection)
        return objection


def handle_events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "objection.handle")))
        db.session.expunge_all()
        return events


@pytest.fixture
def two(app: Flask, announced: Announced) -> tuple[int, int]:
    """Two objections to the announced notice."""
    return (
        receive(app, announced.id, organisation="Globex Corporation"),
        receive(
            app,
            announced.id,
            organisation="Initech",
            contact_name="Bill Lumbergh",
            email="bill@initech.example",
        ),
    )


def test_the_list_shows_objections_per_notice_with_counts_and_window(
    editor: FlaskClient,
    app: Flask,
    announced: Announced,
    registry: Registry,
    two: tuple[int, int],
    clock: Clock,
) -> None:
    other = announce_addition(registry, "Hooli")
    receive(app, other.id, organisation="Umbrella Corp")
    admin_post(editor, f"/admin/objections/{two[0]}/handle", {"note": "Explained the SCCs; they accept."})

    page = text(editor.get("/admin/objections"))
    assert page.index(f"Notice {other.id}") < page.index(f"Notice {announced.id}")  # newest first
    for name in ("Globex Corporation", "Initech", "Umbrella Corp", "bill@initech.example"):
        assert name in page
    assert "1 open" in page and "1 handled" in page
    assert "Open until 23 February 2027, 12:00 UTC" in page

    only_open = text(editor.get("/admin/objections?status=open"))
    assert "Initech" in only_open and "Globex Corporation" not in only_open
    handled = text(editor.get("/admin/objections?status=handled"))
    assert "Globex Corporation" in handled and "Initech" not in handled and "Umbrella" not in handled
    one_notice = text(editor.get(f"/admin/objections?notice={other.id}"))
    assert "Umbrella Corp" in one_notice and "Initech" not in one_notice

    clock.now = DEADLINE + timedelta(minutes=1)
    assert "Closed (last day: 23 February 2027, 12:00 UTC)" in text(editor.get("/admin/objections"))


@pytest.mark.parametrize("query", ["status=maybe", "notice=abc", "notice=-1", "notice=9999999999"])
def test_bad_filters_are_a_400_that_says_what_to_fix(
    editor: FlaskClient, announced: Announced, query: str
) -> None:
    response = editor.get(f"/admin/objections?{query}")
    assert response.status_code == 400
    assert "must be" in text(response)
    assert editor.get(f"/admin/objections.csv?{query}").status_code == 400


def test_an_unknown_notice_or_objection(editor: FlaskClient, announced: Announced) -> None:
    assert "No objections to notice 999" in text(editor.get("/admin/objections?notice=999"))
    assert editor.get("/admin/objections/999").status_code == 404
    assert editor.get(f"/admin/objections/{2**40}").status_code == 404
    assert admin_post(editor, "/admin/objections/999/handle", {"note": "x"}).status_code == 404


def test_the_dashboard_counts_objections_per_announced_notice(
    editor: FlaskClient, app: Flask, announced: Announced, two: tuple[int, int], clock: Clock
) -> None:
    admin_post(editor, f"/admin/objections/{two[1]}/handle", {"note": "Answered."})
    page = text(editor.get("/admin/"))
    assert "1 open, 1 handled" in page
    assert "window open" in page
    assert f"/admin/objections?notice={announced.id}" in markup(editor.get("/admin/"))
    clock.now = DEADLINE + timedelta(seconds=1)
    assert "window closed" in text(editor.get("/admin/"))


def test_the_notice_page_shows_its_objections(
    editor: FlaskClient, announced: Announced, two: tuple[int, int]
) -> None:
    page = text(editor.get(f"/admin/notices/{announced.id}"))
    assert "Objections (2)" in page
    assert "Globex Corporation" in page and "Initech" in page
    assert f"/admin/objections/{two[0]}" in markup(editor.get(f"/admin/notices/{announced.id}"))
    assert "Open until 23 February 2027, 12:00 UTC" in page


def test_marking_handled_needs_a_note_and_is_audited(
    editor: FlaskClient, app: Flask, announced: Announced, two: tuple[int, int], clock: Clock
) -> None:
    first = two[0]
    page = text(editor.get(f"/admin/objections/{first}"))
    assert "Our contract forbids transfers" in page and "jane.doe@globex.example" in page

    for note in ("", "   \n "):
        response = admin_post(editor, f"/admin/objections/{first}/handle", {"note": note})
        assert response.status_code == 422
        assert "Enter a note on how the objection was handled." in text(response)
    assert admin_post(editor, f"/admin/objections/{first}/handle", {"note": "n" * 2001}).status_code == 422
    assert objection_row(app, first).status is ObjectionStatus.OPEN
    assert handle_events(app) == []

    clock.now = NOW + timedelta(days=2)
    response = admin_post(editor, f"/admin/objections/{first}/handle", {"note": "Called Jane; SCCs suffice."})
    assert response.status_code == 302
    assert response.location == f"/admin/objections/{first}"
    handled = objection_row(app, first)
    assert handled.status is ObjectionStatus.HANDLED
    assert handled.handled_at == NOW + timedelta(days=2)
    assert handled.handled_note == "Called Jane; SCCs suffice."
    assert "Handled" in text(editor.get(f"/admin/objections/{first}"))

    [event] = handle_events(app)
    assert event.actor == "editor@example.com" and event.actor_id == handled.handled_by_id
    assert (event.target_type, event.target_id) == ("objection", str(first))
    assert event.list_id == announced.list_id and event.summary == "Globex Corporation"
    # The note may name the objector: it stays in the objection, where erasure reaches it.
    assert event.after == {"status": "handled", "note_length": len("Called Jane; SCCs suffice.")}

    again = admin_post(editor, f"/admin/objections/{first}/handle", {"note": "Twice."})
    assert again.status_code == 409
    assert "handled already, by editor@example.com" in text(again)
    assert objection_row(app, first).handled_note == "Called Jane; SCCs suffice."
    assert len(handle_events(app)) == 1


def test_handling_needs_the_csrf_token(editor: FlaskClient, app: Flask, two: tuple[int, int]) -> None:
    assert editor.post(f"/admin/objections/{two[0]}/handle", data={"note": "No token."}).status_code == 400
    assert objection_row(app, two[0]).status is ObjectionStatus.OPEN


def _csv(response: TestResponse) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.is_streamed
    assert response.headers["Content-Disposition"].startswith('attachment; filename="objections-')
    reader = csv.reader(io.StringIO(response.get_data(as_text=True)))
    header = next(reader)
    assert tuple(header) == CSV_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


def test_the_csv_export_has_what_a_dpo_needs(
    editor: FlaskClient, app: Flask, announced: Announced, two: tuple[int, int]
) -> None:
    admin_post(editor, f"/admin/objections/{two[0]}/handle", {"note": "Answered by phone."})
    rows = _csv(editor.get("/admin/objections.csv"))
    assert [row["organisation"] for row in rows] == ["Globex Corporation", "Initech"]
    first = rows[0]
    objection = objection_row(app, two[0])
    assert first["reference"] == objection.reference
    assert first["list"] == "Sub-processors" and first["notice"] == str(announced.id)
    assert first["changes"] == "New sub-processor: Acme Analytics (United States)"
    assert first["effective_at"] == "2027-02-24T12:00:00+00:00"
    assert first["objection_deadline"] == "2027-02-23T12:00:00+00:00"
    assert first["contact_name"] == "Jane Doe" and first["email"] == "jane.doe@globex.example"
    assert first["reason"].startswith("Our contract forbids")
    assert first["received_at"] == "2027-01-10T12:00:00+00:00"
    assert first["status"] == "handled" and first["handled_by"] == "editor@example.com"
    assert first["handled_note"] == "Answered by phone." and first["handled_at"]
    assert rows[1]["status"] == "open" and rows[1]["handled_at"] == rows[1]["handled_by"] == ""

    assert [r["organisation"] for r in _csv(editor.get("/admin/objections.csv?status=open"))] == ["Initech"]


def test_csv_cells_a_spreadsheet_would_run_are_prefixed(
    editor: FlaskClient, app: Flask, announced: Announced
) -> None:
    receive(
        app,
        announced.id,
        organisation='=HYPERLINK("https://evil.example","Click")',
        contact_name="+1 555 0100",
        reason="@SUM(A1:A9)\nand more",
    )
    receive(app, announced.id, organisation="-2+3", reason="\tcmd|' /C calc'!A0")
    first, second = _csv(editor.get("/admin/objections.csv"))
    assert first["organisation"] == '\'=HYPERLINK("https://evil.example","Click")'
    assert first["contact_name"] == "'+1 555 0100"
    assert first["reason"] == "'@SUM(A1:A9)\nand more"
    assert second["organisation"] == "'-2+3"
    assert second["reason"] == "cmd|' /C calc'!A0"  # (leading white space is not kept)
    assert first["email"] == "jane.doe@globex.example"  # ordinary text is left as it is


ROUTES = [
    ("GET", "/admin/objections"),
    ("GET", "/admin/objections.csv"),
    ("GET", "/admin/objections/{id}"),
    ("POST", "/admin/objections/{id}/handle"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_visitors_are_sent_to_sign_in(
    client: FlaskClient, app: Flask, two: tuple[int, int], method: str, path: str
) -> None:
    response = client.open(path.format(id=two[0]), method=method, data={"note": "Sneaky."})
    assert response.status_code == 302
    assert response.location.startswith("/sign-in?next=")
    assert objection_row(app, two[0]).status is ObjectionStatus.OPEN


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_api_tokens_do_not_open_the_admin_pages(
    client: FlaskClient, app: Flask, users: Users, two: tuple[int, int], method: str, path: str
) -> None:
    users.create("ed@example.com", "editor")
    headers = {"Authorization": f"Bearer {users.token('ed@example.com')}"}
    response = client.open(path.format(id=two[0]), method=method, headers=headers, data={"note": "x"})
    assert response.status_code == 302 and response.location.startswith("/sign-in")


def test_an_inactive_user_is_refused(app: Flask, users: Users, two: tuple[int, int]) -> None:
    from registry.accounts import services as accounts
    from registry.audit.services import SYSTEM

    client = app.test_client()
    users.create("gone@example.com", "editor")
    assert sign_in(client, "gone@example.com").status_code == 302
    assert client.get("/admin/objections").status_code == 200
    with app.app_context():
        user = accounts.find_user(db.session, "gone@example.com")
        assert user is not None
        accounts.update_user(db.session, user, role="editor", active=False, actor=SYSTEM, now=NOW)
        db.session.commit()
    assert client.get("/admin/objections").status_code == 302
    assert client.get(f"/admin/objections/{two[0]}").status_code == 302


def test_admins_may_use_the_objection_pages(admin: FlaskClient, two: tuple[int, int]) -> None:
    assert admin.get("/admin/objections").status_code == 200
    response = admin_post(admin, f"/admin/objections/{two[0]}/handle", {"note": "Done by the admin."})
    assert response.status_code == 302
