"""How transactions begin, and what a busy database answers: requests that may write take
SQLite's write lock up front, reads do not, and a database still busy is a 503, never a 500."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
import pytest
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from registry import scheduler
from registry.database import SQLITE_CACHE_KIB, is_busy, transaction_intent
from registry.extensions import db
from tests.conftest import Registry, Users

# SQLite's write lock (PostgreSQL locks rows instead): these tests run on SQLite only.
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def sqlite_path(app: Flask) -> str:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    assert url.startswith("sqlite:///"), url
    return url.removeprefix("sqlite:///")


@contextmanager
def write_lock_held(app: Flask) -> Iterator[sqlite3.Connection]:
    """Another process's writer in the middle of a transaction: it holds SQLite's write lock."""
    other = sqlite3.connect(sqlite_path(app), isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE lists SET title = title")
        yield other
    finally:
        other.execute("ROLLBACK")
        other.close()


def can_write_now(app: Flask) -> bool:
    """Whether a second writer gets the lock at once (nobody holds it)."""
    other = sqlite3.connect(sqlite_path(app), isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        refusal = str(error)
    else:
        other.execute("ROLLBACK")
        refusal = ""
    finally:
        other.close()
    assert refusal in ("", "database is locked")
    return not refusal


def commit_elsewhere(app: Flask) -> None:
    other = sqlite3.connect(sqlite_path(app), isolation_level=None, timeout=5)
    try:
        other.execute("UPDATE lists SET title = title || '.'")
    finally:
        other.close()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@sqlite_only
def test_a_read_only_request_begins_without_the_write_lock(
    app: Flask, registry: Registry, method: str
) -> None:
    registry.create_list()
    with app.test_request_context("/processors", method=method):
        db.session.execute(text("SELECT count(*) FROM lists")).scalar()
        assert can_write_now(app)
        db.session.rollback()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@sqlite_only
def test_a_request_that_may_write_takes_the_write_lock_when_it_begins(
    app: Flask, registry: Registry, method: str
) -> None:
    registry.create_list()
    with app.test_request_context("/subscribe", method=method):
        db.session.execute(text("SELECT count(*) FROM lists")).scalar()
        assert not can_write_now(app)
        db.session.rollback()
    assert can_write_now(app)


def holds_the_write_lock(app: Flask) -> bool:
    """Read in a transaction of the current context and tell whether it took the write lock."""
    db.session.execute(text("SELECT count(*) FROM lists")).scalar()
    held = not can_write_now(app)
    db.session.rollback()
    return held


@sqlite_only
def test_jobs_take_the_write_lock_when_they_begin(app: Flask, registry: Registry) -> None:
    registry.create_list()
    seen: list[bool] = []
    job = scheduler.Schedule("probe", lambda: seen.append(holds_the_write_lock(app)), "DELIVER_EVERY_SECONDS")
    scheduler._run(app, job)
    assert seen == [True]


@sqlite_only
def test_commands_take_the_write_lock_when_they_begin(app: Flask, registry: Registry) -> None:
    registry.create_list()
    seen: list[bool] = []

    @click.command("probe")
    @with_appcontext
    def probe() -> None:
        seen.append(holds_the_write_lock(app))

    result = app.test_cli_runner().invoke(probe)
    assert result.exit_code == 0, result.output
    assert seen == [True]


@sqlite_only
def test_a_bare_app_context_begins_deferred(app: Flask, registry: Registry) -> None:
    """A test or a shell may read in one context while another connection of its thread writes."""
    registry.create_list()
    with app.app_context():
        assert not holds_the_write_lock(app)


@sqlite_only
def test_a_writer_that_read_first_is_not_failed_by_another_writers_commit(
    app: Flask, registry: Registry
) -> None:
    """The bug this design fixes, both ways: a deferred read-then-write fails at once when another
    writer committed in between; an immediate one cannot meet that (the other writer waits)."""
    registry.create_list()
    with app.test_request_context("/processors", method="GET"):
        db.session.execute(text("SELECT title FROM lists")).scalar()
        commit_elsewhere(app)
        with pytest.raises(OperationalError) as failure:
            db.session.execute(text("UPDATE lists SET title = 'read, then written'"))
        assert is_busy(failure.value)
        db.session.rollback()
    with app.test_request_context("/subscribe", method="POST"):
        db.session.execute(text("SELECT title FROM lists")).scalar()
        with pytest.raises(sqlite3.OperationalError):
            commit_elsewhere_at_once(app)
        db.session.execute(text("UPDATE lists SET title = 'read, then written'"))
        db.session.commit()
        assert db.session.execute(text("SELECT title FROM lists")).scalar() == "read, then written"


def commit_elsewhere_at_once(app: Flask) -> None:
    other = sqlite3.connect(sqlite_path(app), isolation_level=None, timeout=0)
    try:
        other.execute("UPDATE lists SET title = 'the other writer'")
    finally:
        other.close()


@sqlite_only
def test_transaction_intent_overrides_the_request_method(app: Flask, registry: Registry) -> None:
    registry.create_list()
    with app.test_request_context("/processors", method="GET"):
        with transaction_intent(writes=True):
            db.session.execute(text("SELECT count(*) FROM lists")).scalar()
            assert not can_write_now(app)
            db.session.rollback()
        db.session.execute(text("SELECT count(*) FROM lists")).scalar()
        assert can_write_now(app)
        db.session.rollback()


@pytest.fixture
def impatient_app(app_factory: Callable[..., Flask]) -> Flask:
    """An app whose writers give up on a held lock after 0.1 s instead of 10."""
    return app_factory(SQLITE_BUSY_TIMEOUT=0.1)


@sqlite_only
def test_a_busy_database_answers_a_page_503_with_retry_after(
    impatient_app: Flask, registry: Registry
) -> None:
    registry.create_list()
    client = impatient_app.test_client()
    with write_lock_held(impatient_app):
        response = client.post(
            "/subscribe",
            data={"email": "someone@example.com", "lists": "sub-processors", "frequency": "each"},
            headers={"Sec-Fetch-Site": "same-origin"},
        )
    assert response.status_code == 503
    # At least our 2 s: Flask-Limiter raises it to the sign-up limit's window on that route.
    assert int(response.headers["Retry-After"]) >= 2
    assert response.mimetype == "text/html"
    assert "nothing was changed" in response.get_data(as_text=True)
    with impatient_app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM subscribers")).scalar() == 0


@sqlite_only
def test_a_busy_database_answers_the_api_503_json(
    impatient_app: Flask, registry: Registry, users: Users
) -> None:
    registry.create_list()
    users.create("editor@example.com")
    token = users.token("editor@example.com")
    client = impatient_app.test_client()
    with write_lock_held(impatient_app):
        response = client.post(
            "/api/v1/lists/sub-processors/drafts",
            json={"action": "retire", "target": "nobody"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.get_json()["error"]["status"] == 503


@sqlite_only
def test_a_job_meeting_a_busy_database_waits_for_its_next_run(
    impatient_app: Flask, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.create_list()
    with write_lock_held(impatient_app), caplog.at_level(logging.WARNING, "registry.scheduler"):
        results = scheduler.run_all(impatient_app)  # every job: none raises
    assert "database busy, retried at its next run" in caplog.text
    assert not [record for record in caplog.records if record.exc_info]
    assert set(results) == {schedule.name for schedule in scheduler.schedules()}
    caplog.clear()
    with caplog.at_level(logging.WARNING, "registry.scheduler"):
        scheduler.run_all(impatient_app)  # the next run, with the lock free, works
    assert "database busy" not in caplog.text


def test_busy_errors_are_told_from_other_database_errors(db_url: str) -> None:
    """Real errors of the database in use: a held lock is "busy", a wrong statement is not."""
    sqlite = db_url.startswith("sqlite")
    engine = create_engine(db_url, connect_args={"timeout": 0} if sqlite else {})
    try:
        with engine.connect() as holder, engine.connect() as connection:
            if sqlite:
                holder.exec_driver_sql("BEGIN IMMEDIATE")
                locked = "BEGIN IMMEDIATE"
            else:
                holder.exec_driver_sql("LOCK TABLE lists IN ACCESS EXCLUSIVE MODE")
                locked = "LOCK TABLE lists IN ACCESS EXCLUSIVE MODE NOWAIT"
            with pytest.raises(OperationalError) as busy:
                connection.exec_driver_sql(locked)
            holder.rollback()
        assert is_busy(busy.value)
        with engine.connect() as connection, pytest.raises(DBAPIError) as wrong:
            connection.execute(text("SELECT no_such_column FROM lists"))
        assert not is_busy(wrong.value)
    finally:
        engine.dispose()


@sqlite_only
def test_sqlite_connections_keep_a_batch_in_memory(app: Flask) -> None:
    # A job's batch changes pages all over the file: they stay in the connection's cache until
    # it commits, and the statement journal (thrown away when each statement ends) is never a
    # temporary file written page by page (temp_store 2 is MEMORY).
    with app.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
        assert connection.exec_driver_sql("PRAGMA temp_store").scalar() == 2
