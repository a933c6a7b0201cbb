"""The audit trail page and its CSV: newest first, filters, pages, before/after, safe cells."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.audit.models import AuditEvent
from registry.audit.services import CSV_COLUMNS, Actor, record
from registry.csvsafe import EXPORT_BATCH
from registry.extensions import db


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2027, 2, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def trail(app: Flask) -> None:
    """Five events of February 2027 (after the fixtures' own, at NOW), recorded in order."""
    alice = Actor(None, "alice@example.com", "10.0.0.1")
    bob = Actor(None, "bob@example.com", "10.0.0.2")
    with app.app_context():
        record(db.session, "user.sign_in", alice, now=at(1), summary="password")
        record(db.session, "list.settings", bob, now=at(5), target=("list", 7),
               before={"title": "Old title", "notice_period_days": 30},
               after={"title": "New title", "notice_period_days": 30})  # fmt: skip
        record(db.session, "user.update", alice, now=at(9, 23, 59), target=("user", 3))
        record(db.session, "token.create", Actor(None, "-bob", "10.0.0.3"), now=at(10), summary="=1+2")
        record(db.session, "change.draft", bob, now=at(11), summary="@SUM(A1)", after={"name": "+Stripe"})
        db.session.commit()


def actions(response_text: str) -> list[str]:
    """The actions of the events on a page, top to bottom."""
    return re.findall(r'data-label="Action"><code>([^<]+)</code>', response_text)


def page(admin: FlaskClient, query: str = "", status: int = 200) -> str:
    response = admin.get(f"/admin/audit{query}")
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_the_trail_shows_the_newest_first_with_who_and_from_where(admin: FlaskClient, trail: None) -> None:
    body = page(admin)
    assert actions(body)[:5] == [
        "change.draft",
        "token.create",
        "user.update",
        "list.settings",
        "user.sign_in",
    ]
    # The admin's own sign-in (on the real clock) is in the trail too, as what they did.
    assert "user.sign_in" in actions(body)[5:] and "127.0.0.1" in body
    assert "10.0.0.2" in body and 'datetime="2027-02-09T23:59:00Z"' in body and "list 7" in body


def test_before_and_after_show_what_changed(admin: FlaskClient, trail: None) -> None:
    body = page(admin, "?action=list.settings")
    assert "1 field changed" in body
    assert "<strong>title</strong> <del>&#34;Old title&#34;</del> → <ins>&#34;New title&#34;</ins>" in body
    assert "<strong>notice_period_days</strong>" not in body  # unchanged fields are left out
    body = page(admin, "?action=change.draft")
    assert "<summary>After</summary>" in body and "+Stripe" in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?action=user.", {"user.sign_in", "user.update"}),
        ("?action=list", {"list.settings"}),
        ("?actor=alice", {"user.sign_in", "user.update"}),
        ("?actor=BOB", {"list.settings", "token.create", "change.draft"}),
        ("?since=2027-02-05&until=2027-02-09", {"list.settings", "user.update"}),
        ("?since=2027-02-10", {"token.create", "change.draft"}),
        ("?until=2027-02-01", {"user.sign_in"}),
        ("?action=user.&actor=alice&since=2027-02-02", {"user.update"}),
        ("?action=nothing", set()),
    ],
)
def test_filters(admin: FlaskClient, trail: None, query: str, expected: set[str]) -> None:
    # The fixtures' own events (users created at NOW, the admin's sign-in) are before February.
    if "since" not in query:
        query += "&since=2027-02-01"
    found = actions(page(admin, query))
    assert set(found) == expected and len(found) == len(expected)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?page=0", "The page must be a whole number from 1 to 1000000"),
        ("?page=abc", "The page must be a whole number from 1 to 1000000"),
        ("?page=%C2%B2", "The page must be a whole number from 1 to 1000000"),
        ("?page=99999999999999999999", "The page must be a whole number from 1 to 1000000"),
        ("?since=2027-13-01", "Enter a date written YYYY-MM-DD, for example 2027-01-31."),
        ("?since=01/02/2027", "Enter a date written YYYY-MM-DD, for example 2027-01-31."),
        ("?until=0000-01-01", "Enter a date written YYYY-MM-DD, for example 2027-01-31."),
        ("?since=2027-02-10&until=2027-02-09", "Enter a date on or after the From date."),
        ("?action=" + "x" * 65, "Field cannot be longer than 64 characters"),
    ],
)
def test_bad_filters_are_400_with_a_message(admin: FlaskClient, query: str, message: str) -> None:
    body = page(admin, query, status=400)
    assert message in body
    assert actions(body) == []
    csv_response = admin.get(f"/admin/audit.csv{query}")
    assert csv_response.status_code == 400 and "Fix the filters" in csv_response.get_data(as_text=True)


def test_the_last_day_can_be_the_last_possible_one(admin: FlaskClient, trail: None) -> None:
    assert len(actions(page(admin, "?since=2027-02-01&until=9999-12-31"))) == 5


def test_pages_of_a_hundred(admin: FlaskClient, app: Flask) -> None:
    with app.app_context():
        start = at(1)
        for number in range(205):
            record(db.session, "bulk.event", Actor(None, "robot", None), now=start + timedelta(minutes=number),
                   summary=f"event {number}")  # fmt: skip
        db.session.commit()
    first = page(admin, "?action=bulk")
    assert len(actions(first)) == 100
    assert "event 204<" in first and "event 105<" in first and "event 104<" not in first
    assert 'href="/admin/audit?page=2&amp;action=bulk" rel="next"' in first or (
        'href="/admin/audit?action=bulk&amp;page=2" rel="next"' in first
    )
    assert 'rel="prev"' not in first
    third = page(admin, "?action=bulk&page=3")
    assert len(actions(third)) == 5 and "event 0<" in third and 'rel="next"' not in third
    assert "Events 201–205" in third
    beyond = page(admin, "?action=bulk&page=4")
    assert actions(beyond) == [] and "There are no events on page 4" in beyond


def _csv(admin: FlaskClient, query: str = "") -> list[list[str]]:
    response = admin.get(f"/admin/audit.csv{query}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="audit-trail-\d{4}-\d{2}-\d{2}\.csv"',
                        response.headers["Content-Disposition"])  # fmt: skip
    assert response.headers["Cache-Control"] == "no-store"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_csv_export_of_the_filtered_trail(admin: FlaskClient, trail: None) -> None:
    header, *rows = _csv(admin, "?actor=bob&since=2027-02-01")
    assert header == list(CSV_COLUMNS)
    column = {name: index for index, name in enumerate(header)}
    assert [row[column["action"]] for row in rows] == ["change.draft", "token.create", "list.settings"]
    settings = rows[2]
    assert settings[column["at"]] == "2027-02-05T12:00:00+00:00"
    assert settings[column["ip"]] == "10.0.0.2" and settings[column["target_id"]] == "7"
    assert '"title": "Old title"' in settings[column["before"]]


def test_csv_cells_a_spreadsheet_would_run_are_prefixed(admin: FlaskClient, trail: None) -> None:
    _, *rows = _csv(admin, "?since=2027-02-10")
    column = {name: index for index, name in enumerate(CSV_COLUMNS)}
    draft, token = rows
    assert token[column["actor"]] == "'-bob"
    assert token[column["summary"]] == "'=1+2"
    assert draft[column["summary"]] == "'@SUM(A1)"
    assert draft[column["actor"]] == "bob@example.com"  # ordinary text is left as it is


def test_the_whole_trail_exports_every_page(admin: FlaskClient, app: Flask) -> None:
    with app.app_context():
        for number in range(150):
            record(db.session, "bulk.event", Actor(None, "robot", None), now=at(1), summary=str(number))
        db.session.commit()
    _, *rows = _csv(admin, "?action=bulk")
    assert len(rows) == 150


def test_the_trail_can_only_be_read(app: Flask, admin: FlaskClient) -> None:
    """No route anywhere writes to the trail: every audit URL is GET only."""
    audit_rules = [rule for rule in app.url_map.iter_rules() if "audit" in rule.rule]
    assert {rule.rule for rule in audit_rules} >= {"/admin/audit", "/admin/audit.csv"}
    for rule in audit_rules:
        assert (rule.methods or set()) <= {"GET", "HEAD", "OPTIONS"}, rule.rule
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert admin.open("/admin/audit", method=method).status_code == 405, method


def test_editors_and_visitors_cannot_read_the_trail(app: Flask, editor: FlaskClient) -> None:
    for path in ("/admin/audit", "/admin/audit.csv"):
        assert editor.get(path).status_code == 403
        response = app.test_client().get(path)
        assert response.status_code == 302 and response.location.startswith("/sign-in")


def test_a_large_export_is_streamed_in_batches(admin: FlaskClient, app: Flask) -> None:
    # More than two batches: the export must arrive in pieces, none of them the whole trail.
    count = 2 * EXPORT_BATCH + 7
    with app.app_context():
        start = at(1)
        db.session.add_all(
            AuditEvent(
                at=start + timedelta(seconds=n), action="bulk.event", actor="robot", summary=f"event {n}"
            )
            for n in range(count)
        )
        db.session.commit()
    response = admin.get("/admin/audit.csv?action=bulk")
    assert response.status_code == 200 and response.is_streamed
    chunks = [chunk.decode() if isinstance(chunk, bytes) else chunk for chunk in response.response]
    assert len(chunks) >= 3
    assert max(chunk.count("\r\n") for chunk in chunks) <= EXPORT_BATCH + 1
    header, *rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert header == list(CSV_COLUMNS) and len(rows) == count
    # Newest first, as on the page, across batch boundaries.
    assert [row[CSV_COLUMNS.index("summary")] for row in rows[:2]] == [
        f"event {count - 1}",
        f"event {count - 2}",
    ]
    assert rows[-1][CSV_COLUMNS.index("summary")] == "event 0"
