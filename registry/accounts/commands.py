"""Commands to create users and API tokens from a shell on the server."""

from __future__ import annotations

import getpass
import sys

import click
from flask import Flask
from flask.cli import with_appcontext

from registry.accounts import services
from registry.accounts.models import Role
from registry.audit.services import Actor
from registry.extensions import db
from registry.timeutil import utcnow
from registry.validation import ValidationError


def _operator() -> Actor:
    return Actor(None, f"cli:{getpass.getuser()}")


@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_user(email: str, role: str, password_stdin: bool) -> None:
    """Create an editor or admin who signs in with EMAIL."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = services.create_user(db.session, email, password, role, actor=_operator(), now=utcnow())
    except ValidationError as error:
        db.session.rollback()
        for field, message in error.errors.items():
            click.echo(f"{field}: {message}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"Created {user.role} {user.email}.")


@click.command("create-token")
@click.argument("email")
@click.option("--name", default="", help="What the token is for, shown in the admin pages.")
@with_appcontext
def create_token(email: str, name: str) -> None:
    """Print a new API token for EMAIL's user, once; only its hash is kept."""
    user = services.find_user(db.session, email)
    if user is None or not user.active:
        click.echo(f"No active user with the address {email!r}.", err=True)
        sys.exit(1)
    token = services.create_token(db.session, user, name, actor=_operator(), now=utcnow())
    db.session.commit()
    click.echo(token)


def register(app: Flask) -> None:
    for command in (create_user, create_token):
        app.cli.add_command(command)
