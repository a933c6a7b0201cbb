"""Commands for lists: import and export of whole lists."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from registry.accounts.services import find_user
from registry.audit.services import SYSTEM, Actor
from registry.extensions import db
from registry.lists import exchange, services
from registry.lists.fields import transfer_warning
from registry.lists.models import Notice, NoticeKind, NoticeStatus, Version
from registry.publishing.rules import ConflictError
from registry.timeutil import utcnow
from registry.validation import ValidationError


def _format(path: str | None, given: str | None) -> str:
    if given:
        return given
    if path and path.lower().endswith(".csv"):
        return "csv"
    return "json"


@click.command("import-list")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--list", "slug", help="The list to import into (default: the file's, or the default list).")
@click.option("--title", help="Title for a list that does not exist yet.")
@click.option("--format", "fmt", type=click.Choice(exchange.FORMATS), help="Default: from the file name.")
@click.option("--reason", default=None, help="Public reason shown in the change log.")
@click.option(
    "--effective",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Announce the changes to take effect on this day (UTC), instead of a correction.",
)
@click.option(
    "--short-notice-reason", default=None, help="Why the effective date is inside the notice period."
)
@click.option(
    "--as",
    "acting_as",
    default=None,
    metavar="EMAIL",
    help="The editor on whose behalf the import is made (needed where the list requires approval).",
)
@with_appcontext
def import_list(
    file: str,
    slug: str | None,
    title: str | None,
    fmt: str | None,
    reason: str | None,
    effective: datetime | None,
    short_notice_reason: str | None,
    acting_as: str | None,
) -> None:
    """Make a list hold the entries in FILE: its first version, a notice, or a correction.

    A new list is published at once. A published list's differences are announced with notice
    (--effective), or published as a correction, which is refused unless only wording and links
    change, exactly as in the admin pages.
    """
    fmt = _format(file, fmt)
    # Bytes, decoded as they are: a text-mode read would turn the CRLF inside a CSV cell (a
    # purpose typed in a browser) into LF, and the list would no longer match its own export.
    with click.open_file(file, "rb") as handle:
        try:
            text = handle.read().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            click.echo(
                f"{file}: nothing was imported: not UTF-8 text ({error.reason} at byte {error.start})",
                err=True,
            )
            sys.exit(1)
    try:
        parsed = exchange.parse_import(text, fmt)
    except exchange.ImportProblems as problems:
        click.echo(f"{file}: nothing was imported; fix these {len(problems.problems)} problem(s):", err=True)
        for problem in problems.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    for note in parsed.notes:
        click.echo(f"{file}: {note}")
    for entry in parsed.entries:  # said, not refused: the import goes on
        if warning := transfer_warning(entry):
            click.echo(f"{file}: warning: {entry['id']}: {warning}", err=True)

    now = utcnow()
    slug = slug or parsed.settings.get("slug") or current_app.config["DEFAULT_LIST"]
    register_list = services.get_list(db.session, slug)
    actor = _actor(acting_as)
    if register_list is not None and register_list.requires_approval and actor.user_id is None:
        # Four eyes: whoever runs the import is a contributor, so the approval must come from
        # someone else; an anonymous import could be approved by the very person who ran it.
        click.echo(
            f"{register_list.slug} requires approval: say on whose behalf you import with --as EMAIL, "
            "so that another person can approve it.",
            err=True,
        )
        sys.exit(1)
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
        outcome = exchange.import_entries(
            db.session,
            register_list,
            parsed.entries,
            reason=reason or f"Imported from {os.path.basename(file)}",
            now=now,
            effective_at=effective.replace(tzinfo=UTC) if effective else None,
            short_notice_reason=short_notice_reason,
            actor=actor,
        )
    except (ValidationError, ConflictError, ValueError, TypeError) as error:
        db.session.rollback()
        click.echo(f"{file}: nothing was imported: {error}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"{register_list.slug}: {_outcome(outcome)}")


def _actor(email: str | None) -> Actor:
    """The editor named by ``--as``, as the audit trail and four eyes see them; exits if unknown."""
    if email is None:
        return SYSTEM
    user = find_user(db.session, email)
    if user is None or not user.active:
        click.echo(f"There is no active user {email!r}.", err=True)
        sys.exit(1)
    return Actor(user.id, user.email)


def _outcome(outcome: Version | Notice | None) -> str:
    """What an import did, in a sentence."""
    if outcome is None:
        return "the list already holds exactly these entries; nothing changed."
    if isinstance(outcome, Version):
        return f"published version {outcome.number} with {len(outcome.changes)} change(s)."
    changes = f"{len(outcome.changes)} change(s)"
    if outcome.status is NoticeStatus.PENDING_APPROVAL:
        return f"{changes} wait for approval as notice {outcome.id}; nothing is public yet."
    if outcome.kind is NoticeKind.CORRECTION:
        return f"published {changes} as a correction (version {outcome.register_list.current_version})."
    return f"announced {changes} as notice {outcome.id}, effective {outcome.effective_at:%Y-%m-%d}."


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
    for command in (import_list, export_list):
        app.cli.add_command(command)
