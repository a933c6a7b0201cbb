"""Commands that concern the whole service: the schema, the demo and the jobs.

The composition root, like the app factory: it may use every area.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from registry import scheduler
from registry.accounts import demo as demo_users
from registry.database import AppRoleOwnsTables, bind_migrations, upgrade_schema
from registry.documents import demo as demo_documents
from registry.extensions import db
from registry.lists import demo as demo_data
from registry.lists import services
from registry.notifications import demo as demo_subscriber
from registry.rendered import current_revision, forget_other_revisions
from registry.timeutil import utcnow


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the database schema, or upgrade it to the newest migration (as DATABASE_OWNER_URL's
    role when set, then granting the app's role what it needs and no more)."""
    try:
        granted = upgrade_schema()
    except AppRoleOwnsTables as error:
        raise click.ClickException(str(error)) from error
    # A deploy runs this: what the previous code rendered is unreachable now, so it goes.
    forget_other_revisions(db.session, current_revision())
    db.session.commit()
    click.echo("Database schema is up to date.")
    if granted:
        click.echo(f"The role {granted!r} may read and write the tables; it owns none of them.")


DEMO_USERS_FILE = "demo-users.txt"


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Load a realistic demo company with its lists and some history (once), then say where to
    look: the address, the demo users and their passwords, where emails land (every time)."""
    path = os.path.join(current_app.instance_path, DEMO_USERS_FILE)
    if services.all_lists(db.session):
        click.echo("The demo is loaded (the database already holds lists).")
    else:
        now = utcnow()
        demo_data.load(db.session, now)
        users = demo_users.load(db.session, now)
        demo_documents.load(db.session, now)
        demo_subscriber.load(db.session, now)
        db.session.commit()
        loaded = ", ".join(
            f"{register_list.title!r} (version {register_list.current_version})"
            for register_list in services.all_lists(db.session)
        )
        click.echo(f"Loaded the demo: {loaded}.")
        if users:
            _keep_demo_users(path, users)
    _say_where_to_look(path)


def _keep_demo_users(path: str, users: list[tuple[str, str, str]]) -> None:
    """Write the demo's passwords to the instance folder (never committed), readable by this user
    only, so that every later ``make run`` can show them again; the database keeps only hashes."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file left by an earlier run keeps its mode otherwise
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.writelines(f"{email}  {role}  {password}\n" for email, role, password in users)


def _read_demo_users(path: str) -> list[tuple[str, str, str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            rows = [line.split() for line in handle]
    except FileNotFoundError:
        return []
    return [(row[0], row[1], row[2]) for row in rows if len(row) == 3]


def _say_where_to_look(path: str) -> None:
    """The few lines a person trying the service needs, and nothing else."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    click.echo(f"Open {base}/processors")
    users = _read_demo_users(path)
    if users:
        click.echo(f"Sign in at {base}/sign-in as:")
        width = max(len(email) for email, _role, _password in users)
        role_width = max(len(role) for _email, role, _password in users) + 2
        for email, role, password in users:
            click.echo(f"  {email:<{width}}  {f'({role})':<{role_width}}  password {password}")
        click.echo(f"  (kept in {path}, readable only by you)")
    else:
        click.echo(f"Sign in at {base}/sign-in (no demo passwords are kept in {path}).")
    if current_app.config["MAIL_SERVER"]:
        where = f"are sent by {current_app.config['MAIL_SERVER']}"
    else:
        folder = current_app.config["MAIL_FOLDER"] or os.path.join(current_app.instance_path, "mail")
        where = f"land in {folder} as .eml files"
    click.echo(f"Emails {where} (the demo subscriber is {demo_subscriber.ADDRESS}).")


@click.command("run-jobs")
@with_appcontext
def run_jobs() -> None:
    """Run all due work once and exit (for cron, and for tests)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.testing:
        # What start-up built lives until this process exits: the collector leaves it alone
        # instead of walking it again, as the jobs' first query configures the mappers and once
        # more at exit (a tenth of a second). Not in tests, which build apps by the hundred in
        # one process: frozen, each would stay.
        gc.freeze()
    for name, result in scheduler.run_all(app).items():
        click.echo(f"{name}: {result}")


@click.command("scheduler")
@with_appcontext
def run_scheduler() -> None:
    """Run the scheduler in the foreground: one such process per deployment."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo("Scheduler running; press Ctrl+C to stop.")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.build(app, blocking=True).start()


class Deferred(click.Command):
    """Stands in for a command whose code is imported only when it is run (or its own help is
    asked for): ``flask --help`` lists it by its one line, and every other command starts
    without importing what it needs."""

    def __init__(self, name: str, short_help: str, load: Callable[[], click.Command]) -> None:
        super().__init__(name, short_help=short_help, help=short_help)
        self._load = load

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        # The context is the real command's, so click parses and invokes that command.
        return self._load().make_context(info_name, args, parent=parent, **extra)


def _migration_commands(app: Flask) -> click.Command:
    bind_migrations(app)  # adds Flask-Migrate's ``db`` group to app.cli, in place of this stand-in
    return app.cli.commands["db"]


def register(app: Flask) -> None:
    for command in (init_db, demo, run_jobs, run_scheduler):
        app.cli.add_command(command)
    # Alembic and Flask-Migrate (a tenth of a second) are imported by ``flask db`` alone.
    app.cli.add_command(Deferred("db", "Perform database migrations.", lambda: _migration_commands(app)))
