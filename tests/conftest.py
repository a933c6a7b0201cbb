"""Fixtures: an app on a migrated database (SQLite, and PostgreSQL where reachable), a client,
a CLI runner, a fixed clock, and small helpers to build lists through the real services.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2.profiles import CHEAPEST
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry import create_app
from registry.database import upgrade_schema
from registry.extensions import db, limiter
from registry.lists import services, workflow
from registry.lists.models import Change, ChangeAction, RegisterList
from tests import checkers

POSTGRES_URL = os.environ.get(
    "REGISTRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/registry_test"
)
NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


def make_app(url: str, instance_path: Path, **settings: Any) -> Flask:
    """An app on ``url`` whose instance folder (local config, mail) is ``instance_path``."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "PUBLIC_BASE_URL": "https://registry.example",
        # Passwords hashed at argon2's cheapest: signing in is in many tests, its cost in none.
        "PASSWORD_HASH_TIME_COST": CHEAPEST.time_cost,
        "PASSWORD_HASH_MEMORY_COST": CHEAPEST.memory_cost,
        "PASSWORD_HASH_PARALLELISM": CHEAPEST.parallelism,
        **settings,
    }
    return create_app(config, instance_path=str(instance_path))


def migrate(url: str, instance_path: Path) -> None:
    app = make_app(url, instance_path)
    with app.app_context():
        upgrade_schema()
        db.engine.dispose()


@dataclass
class Database:
    """A migrated database of one kind, and how to give each test a clean copy of it."""

    kind: str
    template: str

    def url_for_test(self, tmp_path: Path) -> str:
        if self.kind == "sqlite":
            path = tmp_path / "registry.sqlite"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}"
        return self.template

    def clean(self, url: str) -> None:
        if self.kind == "sqlite":
            return
        engine = create_engine(url)
        with engine.begin() as connection:
            tables = ", ".join(table.name for table in db.metadata.sorted_tables)
            # The append-only tables refuse TRUNCATE by trigger; the tests' superuser connection
            # turns triggers off for this one transaction to start the next test afresh.
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()


def _admin_execute(url: Any, *statements: str) -> None:
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        admin.dispose()


def _postgres_database() -> Any:
    """Create this run's own test database (two runs at once do not meet); skip, or fail in CI,
    when PostgreSQL is unreachable."""
    url = make_url(POSTGRES_URL)
    url = url.set(database=f"{url.database}_{os.getpid()}")
    try:
        _admin_execute(
            url, f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)', f'CREATE DATABASE "{url.database}"'
        )
    except Exception as error:  # any failure to reach it means: no PostgreSQL here
        reason = f"PostgreSQL not reachable at {url.render_as_string()}: {error.__class__.__name__}"
        if os.environ.get("REGISTRY_REQUIRE_POSTGRES"):
            pytest.fail(reason + " (REGISTRY_REQUIRE_POSTGRES is set)")
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("template")
        path = folder / "template.sqlite"
        migrate(f"sqlite:///{path}", folder)
        yield Database("sqlite", str(path))
        return
    url = _postgres_database()
    rendered = url.render_as_string(hide_password=False)
    migrate(rendered, tmp_path_factory.mktemp("postgresql"))
    yield Database("postgresql", rendered)
    _admin_execute(url, f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


@pytest.fixture
def db_url(database: Database, tmp_path: Path) -> Iterator[str]:
    url = database.url_for_test(tmp_path)
    yield url
    database.clean(url)


@pytest.fixture
def app_factory(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on this test's database with extra settings; their connections are closed after."""
    apps: list[Flask] = []

    def build(**settings: Any) -> Flask:
        app = make_app(db_url, tmp_path, **settings)
        # The limiter is one object shared by every app in this process: start each test afresh.
        with app.app_context():
            limiter.reset()
        apps.append(app)
        return app

    yield build
    for built in apps:
        with built.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def entry(name: str, **fields: Any) -> dict[str, Any]:
    """A valid processor with sensible defaults; override any field."""
    data = {
        "name": name,
        "legal_entity": f"{name} Ltd",
        "purpose": f"{name} does things for us.",
        "data_categories": ["Email address"],
        "locations": ["DE"],
        "corporate_location": "DE",
        "transfer_mechanisms": ["none"],
        "kind": "subprocessor",
        "website": "https://example.com",
    }
    data.update(fields)
    return data


class Registry:
    """Builds lists through the real services, each call in its own committed transaction."""

    def __init__(self, app: Flask):
        self.app = app

    def create_list(self, slug: str = "sub-processors", title: str = "Sub-processors", **kw: Any) -> int:
        with self.app.app_context():
            register_list = services.create_list(
                db.session, slug=slug, title=title, now=kw.pop("now", NOW), **kw
            )
            db.session.commit()
            return register_list.id

    def publish(
        self, slug: str, *entries: dict[str, Any], reason: str = "Initial list.", now: datetime = NOW
    ) -> int:
        """Seed published entries at once; returns the new version number.

        The first version is the list's first publication; later ones are published directly
        (as if announced and applied), to set up a state, not to test the notice rules.
        """
        with self.app.app_context():
            register_list = services.get_list(db.session, slug)
            assert register_list is not None
            changes = [
                workflow.draft_change(db.session, register_list, ChangeAction.ADD, fields=e, now=now)
                for e in entries
            ]
            if register_list.current_version:
                version = workflow.publish_version(db.session, register_list, changes, reason=reason, now=now)
            else:
                version = workflow.publish_first_version(
                    db.session, register_list, changes, reason=reason, now=now
                )
            db.session.commit()
            return version.number

    def announce(
        self,
        slug: str,
        drafts: list[tuple[str, str | None, dict[str, Any] | None]],
        *,
        effective_at: datetime,
        now: datetime = NOW,
        reason: str = "Announced change.",
        short_notice_reason: str | None = None,
    ) -> int:
        """Draft and announce changes as one notice; returns the notice id."""
        with self.app.app_context():
            register_list = services.get_list(db.session, slug)
            assert register_list is not None
            changes: list[Change] = [
                workflow.draft_change(
                    db.session, register_list, action, processor=target, fields=fields, now=now
                )
                for action, target, fields in drafts
            ]
            notice = workflow.announce(
                db.session,
                register_list,
                changes,
                reason=reason,
                effective_at=effective_at,
                now=now,
                short_notice_reason=short_notice_reason,
            )
            db.session.commit()
            return notice.id

    def apply_due(self, now: datetime) -> int:
        """Apply every notice due at ``now``, as the scheduler would; returns how many."""
        with self.app.app_context():
            versions = [
                workflow.apply_notice(db.session, i, now) for i in workflow.due_notices(db.session, now)
            ]
            db.session.commit()
            return sum(version is not None for version in versions)

    def get_list(self, slug: str) -> RegisterList:
        with self.app.app_context():
            register_list = services.get_list(db.session, slug)
            assert register_list is not None
            db.session.expunge(register_list)
            return register_list


@pytest.fixture
def registry(app: Flask) -> Registry:
    return Registry(app)


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """The database session inside an app context, for tests that call services directly.

    Do not mix with ``client`` requests in one test: the request would share this context.
    """
    with app.app_context():
        yield db.session


PASSWORD = "correct horse battery staple"


class Users:
    """Creates users and signs them in through the real sign-in form."""

    def __init__(self, app: Flask):
        self.app = app

    def create(self, email: str, role: str = "editor", password: str = PASSWORD) -> int:
        from registry.accounts import services as accounts
        from registry.audit.services import SYSTEM

        with self.app.app_context():
            user = accounts.create_user(db.session, email, password, role, actor=SYSTEM, now=NOW)
            db.session.commit()
            return user.id

    def token(self, email: str) -> str:
        from registry.accounts import services as accounts
        from registry.audit.services import SYSTEM

        with self.app.app_context():
            user = accounts.find_user(db.session, email)
            assert user is not None
            token = accounts.create_token(db.session, user, "tests", actor=SYSTEM, now=NOW)
            db.session.commit()
            return token


@pytest.fixture
def users(app: Flask) -> Users:
    return Users(app)


def csrf_token(client: FlaskClient, path: str = "/sign-in") -> str:
    """The CSRF token a person's browser would get from the form at ``path``."""
    import re

    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert match, f"no CSRF token in {path}"
    return match.group(1)


def seen_on(client: FlaskClient, path: str) -> str:
    """The digest of what an approver was shown on the page at ``path`` (its approve form)."""
    import re

    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="seen" value="([0-9a-f]+)"', page)
    assert match, f"no approve form on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post(
        "/sign-in", data={"csrf_token": csrf_token(client), "email": email, "password": password, **extra}
    )


@pytest.fixture
def editor(client: FlaskClient, users: Users) -> FlaskClient:
    """A client signed in as an editor (editor@example.com)."""
    users.create("editor@example.com", "editor")
    assert sign_in(client, "editor@example.com").status_code == 302
    return client


@pytest.fixture
def admin(app: Flask, users: Users) -> FlaskClient:
    """A second client, signed in as an admin (admin@example.com)."""
    client = app.test_client()
    users.create("admin@example.com", "admin")
    assert sign_in(client, "admin@example.com").status_code == 302
    return client


@pytest.fixture(scope="session")
def pdftotext() -> str:
    """poppler's ``pdftotext``, for the printout and PDF annex tests."""
    return checkers.pdftotext()
