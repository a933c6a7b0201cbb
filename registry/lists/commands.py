"""Commands for the registry: the demo, and import and export of whole lists."""

from __future__ import annotations

import os
import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from registry.accounts import demo as demo_users
from registry.documents import demo as demo_documents
from registry.extensions import db
from registry.lists import demo as demo_data
from registry.lists import exchange, services
from registry.subscriptions import demo as demo_subscriber
from registry.timeutil import utcnow
from registry.validation import ValidationError


def _format(path: str | None, given: str | None) -> str:
    if given:
        return given
    if path and path.lower().endswith(".csv"):
        return "csv"
    return "json"


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


@click.command("import-list")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--list", "slug", help="The list to import into (default: the file's, or the default list).")
@click.option("--title", help="Title for a list that does not exist yet.")
@click.option("--format", "fmt", type=click.Choice(exchange.FORMATS), help="Default: from the file name.")
@click.option("--reason", default=None, help="Public reason shown in the change log.")
@with_appcontext
def import_list(file: str, slug: str | None, title: str | None, fmt: str | None, reason: str | None) -> None:
    """Replace a list's entries with those in FILE, published as one new version."""
    fmt = _format(file, fmt)
    with click.open_file(file, encoding="utf-8-sig") as handle:
        text = handle.read()
    try:
        parsed = exchange.parse_import(text, fmt)
    except exchange.ImportProblems as problems:
        click.echo(f"{file}: nothing was imported; fix these {len(problems.problems)} problem(s):", err=True)
        for problem in problems.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)

    now = utcnow()
    slug = slug or parsed.settings.get("slug") or current_app.config["DEFAULT_LIST"]
    register_list = services.get_list(db.session, slug)
    try:
        if register_list is None:
            register_list = services.create_list(
                db.session,
                slug=slug,
                title=title or parsed.settings.get("title") or slug.replace("-", " ").capitalize(),
                introduction=parsed.settings.get("introduction") or "",
                notice_period_days=int(parsed.settings.get("notice_period_days") or 30),
                objection_closes_days_before=int(parsed.settings.get("objection_closes_days_before") or 1),
                now=now,
            )
        version = exchange.import_entries(
            db.session,
            register_list,
            parsed.entries,
            reason=reason or f"Imported from {os.path.basename(file)}",
            now=now,
        )
    except (ValidationError, ValueError, TypeError) as error:
        db.session.rollback()
        click.echo(f"{file}: nothing was imported: {error}", err=True)
        sys.exit(1)
    db.session.commit()
    if version is None:
        click.echo(f"{register_list.slug}: the list already holds exactly these entries; nothing changed.")
    else:
        click.echo(
            f"{register_list.slug}: published version {version.number} with {len(version.changes)} change(s)."
        )


@click.command("export-list")
@click.option("--list", "slug", help="The list to export (default: the default list).")
@click.option(
    "--format", "fmt", type=click.Choice(exchange.FORMATS), help="Default: from --output, else JSON."
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-")
@with_appcontext
def export_list(slug: str | None, fmt: str | None, output: str) -> None:
    """Write a list's current entries as JSON or CSV (to standard output by default)."""
    slug = slug or current_app.config["DEFAULT_LIST"]
    register_list = services.get_list(db.session, slug)
    if register_list is None:
        click.echo(f"There is no list called {slug!r}.", err=True)
        sys.exit(1)
    text = exchange.export_list(db.session, register_list, _format(output, fmt))
    # Bytes, so the CSV's CRLF line ends reach the file unchanged on every platform.
    with click.open_file(output, "wb") as handle:
        handle.write(text.encode())


def register(app: Flask) -> None:
    for command in (demo, import_list, export_list):
        app.cli.add_command(command)
