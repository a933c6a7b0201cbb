"""Commands that concern the whole service: the schema, the demo and the jobs.

The composition root, like the app factory: it may use every area.
"""

from __future__ import annotations

import contextlib
import os

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from registry import scheduler
from registry.accounts import demo as demo_users
from registry.database import AppRoleOwnsTables, upgrade_schema
from registry.documents import demo as demo_documents
from registry.extensions import db
from registry.lists import demo as demo_data
from registry.lists import services
from registry.notifications import demo as demo_subscriber
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
    click.echo("Database schema is up to date.")
    if granted:
        click.echo(f"The role {granted!r} may read and write the tables; it owns none of them.")


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Load a realistic demo company with its lists and some history (once)."""
    if services.all_lists(db.session):
        click.echo("The database already holds lists; the demo was not loaded again.")
        return
    now = utcnow()
    demo_data.load(db.session, now)
    users = demo_users.load(db.session, now)
    demo_documents.load(db.session, now)
    subscriber = demo_subscriber.load(db.session, now)
    db.session.commit()
    for register_list in services.all_lists(db.session):
        click.echo(f"Loaded {register_list.title!r}: version {register_list.current_version}.")
    if users:
        # Kept in the instance folder (never committed) so the person trying the demo finds them.
        path = os.path.join(current_app.instance_path, "demo-users.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(f"{email}  {role}  {password}\n" for email, role, password in users)
        os.chmod(path, 0o600)
        for email, role, password in users:
            click.echo(f"Sign in at /sign-in as {email} ({role}) with the password {password}")
        click.echo(f"(also written to {path})")
    if subscriber:
        folder = current_app.config["MAIL_FOLDER"] or os.path.join(current_app.instance_path, "mail")
        where = (
            f"by {current_app.config['MAIL_SERVER']}" if current_app.config["MAIL_SERVER"] else f"to {folder}"
        )
        click.echo(f"{subscriber} subscribes to the default list; its emails are delivered {where}.")


@click.command("run-jobs")
@with_appcontext
def run_jobs() -> None:
    """Run all due work once and exit (for cron, and for tests)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
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


def register(app: Flask) -> None:
    for command in (init_db, demo, run_jobs, run_scheduler):
        app.cli.add_command(command)
