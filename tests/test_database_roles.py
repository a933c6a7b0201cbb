"""PostgreSQL deployed with two roles (``bin/postgres-roles.sql``, then ``flask init-db`` with
DATABASE_OWNER_URL): the migrations run as the owner, the app connects as a role that owns
nothing, so no SQL it sends can make the audit trail forget: it cannot change, delete or truncate
audit events, nor drop, disable or go around their triggers, nor alter the table; its ordinary
work goes on.

Roles are cluster-wide: each run names its own after its process id, and removes them, and those
of earlier runs whose process is gone, with its database.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from registry.audit.models import AuditEvent
from registry.audit.services import SYSTEM, record
from registry.extensions import db
from registry.lists import services
from registry.privacy.services import erase_address
from registry.subscriptions.models import Subscriber, SubscriberStatus
from tests.conftest import NOW, POSTGRES_URL, Registry, entry, make_app

SCRIPT = Path(__file__).resolve().parent.parent / "bin" / "postgres-roles.sql"
PREFIX = "registry_test_roles"
OURS = re.compile(rf"^{PREFIX}_(?:owner_|app_)?(\d+)$")
# What PostgreSQL says when a role may not do something.
REFUSED = "permission denied|must be owner"


@dataclass(frozen=True)
class Deployment:
    app: Flask
    owner_url: str
    app_role: str


def _unreachable(reason: str) -> None:
    if os.environ.get("REGISTRY_REQUIRE_POSTGRES"):
        pytest.fail(reason + " (REGISTRY_REQUIRE_POSTGRES is set)")
    pytest.skip(reason)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _superuser(base: URL, *statements: str) -> list[Any]:
    engine = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            results = [connection.execute(text(statement)) for statement in statements]
            return [result.all() if result.returns_rows else [] for result in results]
    finally:
        engine.dispose()


def _remove(base: URL, pid: int) -> None:
    """Drop a run's database, then its roles (a role that owns a database cannot be dropped)."""
    _superuser(
        base,
        f'DROP DATABASE IF EXISTS "{PREFIX}_{pid}" WITH (FORCE)',
        f'DROP ROLE IF EXISTS "{PREFIX}_app_{pid}"',
        f'DROP ROLE IF EXISTS "{PREFIX}_owner_{pid}"',
    )


def _sweep(base: URL) -> None:
    """Remove what this process id used before, and what runs that are gone left behind."""
    roles, databases = _superuser(
        base,
        f"SELECT rolname FROM pg_roles WHERE starts_with(rolname, '{PREFIX}_')",
        f"SELECT datname FROM pg_database WHERE starts_with(datname, '{PREFIX}_')",
    )
    pids = {int(m.group(1)) for (name,) in [*roles, *databases] if (m := OURS.match(name))}
    for pid in pids:
        if pid == os.getpid() or not _alive(pid):
            with contextlib.suppress(DBAPIError):  # another run is removing it at the same moment
                _remove(base, pid)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    base = make_url(POSTGRES_URL)
    psql = shutil.which("psql")
    if psql is None:
        _unreachable("psql is not installed")
    try:
        _sweep(base)
    except Exception as error:  # any failure to reach it means: no PostgreSQL here
        _unreachable(f"PostgreSQL not reachable: {error.__class__.__name__}")
    pid = os.getpid()
    database, owner, app_role = f"{PREFIX}_{pid}", f"{PREFIX}_owner_{pid}", f"{PREFIX}_app_{pid}"
    try:
        # The shipped script, as an operator runs it.
        superuser = base.set(drivername="postgresql", database="postgres")
        subprocess.run(
            [
                str(psql), "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1",
                "-v", f"database={database}",
                "-v", f"owner={owner}", "-v", "owner_password=owner-secret",
                "-v", f"app={app_role}", "-v", "app_password=app-secret",
                "-f", str(SCRIPT), superuser.render_as_string(hide_password=False),
            ],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        owner_url = base.set(username=owner, password="owner-secret", database=database)
        app_url = base.set(username=app_role, password="app-secret", database=database)
        app = make_app(
            app_url.render_as_string(hide_password=False),
            tmp_path_factory.mktemp("roles"),
            DATABASE_OWNER_URL=owner_url.render_as_string(hide_password=False),
        )
        result = app.test_cli_runner().invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert f"The role '{app_role}' may read and write the tables; it owns none" in result.output
        with app.app_context():
            record(db.session, "user.sign_in", SYSTEM, now=NOW, summary="original")
            db.session.commit()
        yield Deployment(app, owner_url.render_as_string(hide_password=False), app_role)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        _remove(base, pid)


def _trail(app: Flask) -> tuple[int, list[str], list[str]]:
    """How many events, their summaries, and the state of each trigger on the table."""
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        summaries = list(db.session.scalars(select(AuditEvent.summary).order_by(AuditEvent.id)))
        triggers = [
            f"{name}:{enabled}"
            for name, enabled in db.session.execute(
                text(
                    "SELECT tgname, tgenabled FROM pg_trigger "
                    "WHERE tgrelid = 'audit_events'::regclass AND NOT tgisinternal ORDER BY tgname"
                )
            )
        ]
        db.session.rollback()
    return count, summaries, triggers


ATTACKS = {
    "update": "UPDATE audit_events SET summary = 'rewritten'",
    "delete": "DELETE FROM audit_events",
    "truncate": "TRUNCATE audit_events",
    "truncate cascade": "TRUNCATE subscribers, audit_events CASCADE",
    "disable trigger": "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "disable all triggers": "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    "disable the user triggers": "ALTER TABLE audit_events DISABLE TRIGGER USER",
    "drop trigger": "DROP TRIGGER audit_events_append_only ON audit_events",
    "drop function": "DROP FUNCTION audit_events_append_only() CASCADE",
    "replace function": (
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$"
    ),
    "triggers off for the session": "SET session_replication_role = replica",
    "alter table": "ALTER TABLE audit_events ADD COLUMN note text",
    "rename table": "ALTER TABLE audit_events RENAME TO old_events",
    "drop table": "DROP TABLE audit_events",
    "take ownership": "ALTER TABLE audit_events OWNER TO CURRENT_USER",
    "a table of its own": "CREATE TABLE audit_events_copy (id integer)",
    "rewrite the schema version": "UPDATE alembic_version SET version_num = 'x'",
}


@pytest.mark.parametrize("sql", ATTACKS.values(), ids=ATTACKS.keys())
def test_the_apps_role_cannot_make_the_trail_forget(deployment: Deployment, sql: str) -> None:
    before = _trail(deployment.app)
    with deployment.app.app_context(), db.engine.connect() as connection:
        with pytest.raises(DBAPIError, match=REFUSED):
            connection.execute(text(sql))
        connection.rollback()
    assert _trail(deployment.app) == before
    assert before[1][0] == "original"


def test_every_append_only_table_is_granted_only_reading_and_adding(deployment: Deployment) -> None:
    with deployment.app.app_context(), db.engine.connect() as connection:
        for table in ("audit_events", "versions"):
            granted = {
                privilege
                for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
                if connection.scalar(text(f"SELECT has_table_privilege('{table}', '{privilege}')"))
            }
            assert granted == {"SELECT", "INSERT"}, table
        assert connection.scalar(text("SELECT has_table_privilege('subscribers', 'DELETE')"))


def test_the_owner_could_which_is_why_the_app_is_not_it(deployment: Deployment) -> None:
    # A single role that runs the migrations and the app (the setup without DATABASE_OWNER_URL)
    # may switch the triggers off and rewrite the trail: each step works for the owner.
    engine = create_engine(deployment.owner_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            rewritten = connection.execute(text("UPDATE audit_events SET summary = 'rewritten'"))
            assert rewritten.rowcount >= 1
            connection.execute(text("TRUNCATE audit_events"))
            connection.rollback()  # DDL is transactional: nothing of it stays
    finally:
        engine.dispose()
    assert _trail(deployment.app)[1][0] == "original"


def test_the_apps_ordinary_work_goes_on(deployment: Deployment) -> None:
    app = deployment.app
    # Publish, announce and apply a change: versions, notices and their locks, the trail.
    registry = Registry(app)
    registry.create_list("published", "Published")
    registry.publish("published", entry("Azure"))
    registry.announce("published", [("add", None, entry("Acme"))], effective_at=NOW + timedelta(days=40))
    assert registry.apply_due(NOW + timedelta(days=41)) == 1
    assert registry.get_list("published").current_version == 2
    with app.app_context():
        register_list = services.create_list(db.session, slug="roles", title="Roles", now=NOW)
        db.session.commit()
        register_list.title = "Roles, renamed"
        subscriber = Subscriber(
            email="roles@example.com", status=SubscriberStatus.CONFIRMED, requested_at=NOW
        )
        db.session.add(subscriber)
        db.session.commit()
        db.session.commit()
        erasure = erase_address(db.session, "roles@example.com", actor=SYSTEM, now=NOW, reason="on request")
        record(db.session, "user.sign_out", SYSTEM, now=NOW, summary="added")
        db.session.commit()
        assert erasure.subscriber
        assert services.get_list(db.session, "roles").title == "Roles, renamed"  # type: ignore[union-attr]
        assert db.session.scalar(select(Subscriber).where(Subscriber.email == "roles@example.com")) is None
        owned = db.session.execute(
            text("SELECT tablename FROM pg_tables WHERE tableowner = current_user")
        ).all()
        assert owned == []
        assert db.session.scalar(text("SELECT current_user")) == deployment.app_role


def test_tables_of_later_migrations_are_granted_and_init_db_runs_again(deployment: Deployment) -> None:
    engine = create_engine(deployment.owner_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE roles_probe (id integer PRIMARY KEY)"))
        with deployment.app.app_context():
            db.session.execute(text("INSERT INTO roles_probe (id) VALUES (1)"))
            db.session.execute(text("DELETE FROM roles_probe"))
            db.session.commit()
            with pytest.raises(DBAPIError, match=REFUSED):
                db.session.execute(text("TRUNCATE roles_probe"))
            db.session.rollback()
        result = deployment.app.test_cli_runner().invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS roles_probe"))
        engine.dispose()
    test_the_apps_role_cannot_make_the_trail_forget(deployment, ATTACKS["update"])


def test_init_db_refuses_while_the_apps_role_owns_a_table(deployment: Deployment) -> None:
    # A deployment from before: the app's role made (and owns) a table.
    superuser = create_engine(make_url(deployment.owner_url).set(username=make_url(POSTGRES_URL).username))
    try:
        with superuser.begin() as connection:
            connection.execute(text("CREATE TABLE roles_legacy (id integer)"))
            connection.execute(text(f'ALTER TABLE roles_legacy OWNER TO "{deployment.app_role}"'))
        result = deployment.app.test_cli_runner().invoke(args=["init-db"])
        assert result.exit_code == 1
        assert "owns 1 table(s)" in result.output and "REASSIGN OWNED BY" in result.output
    finally:
        with superuser.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS roles_legacy"))
        superuser.dispose()
