"""The first five minutes: what ``make run``'s setup steps print, and where its links point.

The steps run as ``make run`` runs them: ``flask init-db`` then ``flask demo`` in processes of
their own, with the settings the Makefile passes (``FLASK_RUN_HOST``, ``FLASK_RUN_PORT``,
``FLASK_QUIET_LOGS``), on a temporary instance folder.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from registry import create_app
from registry.config import local_base_url
from tests.commands import flask_command
from tests.conftest import Database

# The URL, the sign-in line, two users, the file they are kept in, the mail folder, and the
# one line each of init-db and of the demo's own report: what fits in a glance.
MOST_LINES = 10


def _flask(instance: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One of ``make run``'s steps, as a separate process; stdout and stderr together, as seen."""
    return flask_command(f"registry:create_app(instance_path={str(instance)!r})", command, env)


def _make_run_env(database: Database, db_url: str, port: str) -> dict[str, str]:
    """The environment of ``PORT=<port> make run``: no FLASK_ setting of whoever runs the tests."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    env.update(
        {
            "FLASK_SECRET_KEY": "first-run-secret",
            "FLASK_RUN_HOST": "127.0.0.1",
            "FLASK_RUN_PORT": port,
            "FLASK_QUIET_LOGS": "true",
            # argon2's cheapest, as in every test: the cost of hashing is not what is tested here.
            "FLASK_PASSWORD_HASH_TIME_COST": "1",
            "FLASK_PASSWORD_HASH_MEMORY_COST": "8",
            "FLASK_PASSWORD_HASH_PARALLELISM": "1",
        }
    )
    if database.kind == "postgresql":
        env["FLASK_SQLALCHEMY_DATABASE_URI"] = db_url
    # SQLite: the database make run makes, instance/registry.sqlite, created by the migrations.
    return env


def test_setup_says_where_to_look_in_a_few_lines_every_time(
    database: Database, db_url: str, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    env = _make_run_env(database, db_url, "5105")

    init = _flask(instance, "init-db", env)
    assert init.returncode == 0, init.stdout
    assert init.stdout.splitlines() == ["Database schema is up to date."], "migration logs are quieted"

    first = _flask(instance, "demo", env)
    assert first.returncode == 0, first.stdout
    lines = first.stdout.splitlines()
    assert len(lines) <= MOST_LINES, first.stdout
    assert "Open http://127.0.0.1:5105/processors" in lines
    assert "Sign in at http://127.0.0.1:5105/sign-in as:" in lines
    shown = dict(
        re.findall(r"^\s+(\S+@example\.com)\s+\((?:admin|editor)\)\s+password (\S+)$", first.stdout, re.M)
    )
    assert set(shown) == {"admin@example.com", "editor@example.com"}
    users_file = instance / "demo-users.txt"
    assert f"(kept in {users_file}, readable only by you)" in first.stdout
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    kept = {line.split()[0]: line.split()[2] for line in users_file.read_text().splitlines()}
    assert kept == shown
    assert f"Emails land in {instance / 'mail'} as .eml files" in first.stdout

    # A second make run loads nothing again, and still tells the same passwords and places.
    second = _flask(instance, "demo", env)
    assert second.returncode == 0, second.stdout
    assert len(second.stdout.splitlines()) <= MOST_LINES, second.stdout
    assert "The demo is loaded" in second.stdout
    for email, password in shown.items():
        assert re.search(
            rf"{re.escape(email)}\s+\(\w+\)\s+password {re.escape(password)}$", second.stdout, re.M
        )
    assert f"(kept in {users_file}, readable only by you)" in second.stdout
    assert f"Emails land in {instance / 'mail'}" in second.stdout

    # The email the demo subscriber gets links to the port make run serves on.
    jobs = _flask(instance, "run-jobs", env)
    assert "deliver-outbox: sent 1," in jobs.stdout, jobs.stdout
    [message] = (instance / "mail").glob("*.eml")
    # Quoted-printable bodies break long lines with "=\n"; join them to read the links.
    text = message.read_text().replace("=\n", "")
    assert "http://127.0.0.1:5105/" in text
    assert "127.0.0.1:5000" not in text


def test_public_base_url_follows_where_flask_run_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLASK_PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("FLASK_RUN_PORT", "5105")
    monkeypatch.setenv("FLASK_RUN_HOST", "0.0.0.0")
    app = create_app({"TESTING": True}, str(tmp_path))
    assert app.config["PUBLIC_BASE_URL"] == "http://127.0.0.1:5105"
    monkeypatch.delenv("FLASK_RUN_PORT")
    monkeypatch.delenv("FLASK_RUN_HOST")
    assert create_app({"TESTING": True}, str(tmp_path)).config["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"


def test_an_explicit_public_base_url_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_RUN_PORT", "5105")
    monkeypatch.delenv("FLASK_PUBLIC_BASE_URL", raising=False)
    (tmp_path / "config.py").write_text('PUBLIC_BASE_URL = "https://trust.example.com"\n')
    assert (
        create_app({"TESTING": True}, str(tmp_path)).config["PUBLIC_BASE_URL"] == "https://trust.example.com"
    )
    monkeypatch.setenv("FLASK_PUBLIC_BASE_URL", "https://other.example.com")
    assert (
        create_app({"TESTING": True}, str(tmp_path)).config["PUBLIC_BASE_URL"] == "https://other.example.com"
    )


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 5000, "http://127.0.0.1:5000"),
        ("0.0.0.0", 8000, "http://127.0.0.1:8000"),
        ("::", "8000", "http://127.0.0.1:8000"),
        ("::1", 5105, "http://[::1]:5105"),
        ("trust.local", 80, "http://trust.local:80"),
    ],
)
def test_local_base_url(host: str, port: int | str, url: str) -> None:
    assert local_base_url(host, port) == url
