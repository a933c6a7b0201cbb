"""Commands that concern the whole service: the schema and the jobs."""

from __future__ import annotations

import contextlib

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from registry import scheduler
from registry.database import upgrade_schema


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the database schema, or upgrade it to the newest migration."""
    upgrade_schema()
    click.echo("Database schema is up to date.")


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
    for command in (init_db, run_jobs, run_scheduler):
        app.cli.add_command(command)
