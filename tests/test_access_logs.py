"""Request logs never hold the tokens of emailed links, under either server the app runs with.

Each test serves the real app with the real server (werkzeug's, as ``flask run`` does; gunicorn
with an access log) and reads what that server logged. The tokens asked for need not be valid:
what matters is what reaches the log.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from registry import create_app

SECRET = "SeCrEtToKeN.abc-123_XYZ"
PATHS = [
    f"/unsubscribe/{SECRET}",
    f"/subscription/{SECRET}",
    f"/subscription/{SECRET}/data.json",
    f"/subscription/{SECRET}/delete",
    f"/subscription/address/{SECRET}",
    f"/subscribe/confirm/{SECRET}",
    # The server decodes these to the paths above before routing; the log holds them as sent.
    f"/unsub%73cribe/{SECRET}",
    f"/unsubscribe%2F{SECRET}",
    f"/subscription/%61ddress/{SECRET}",
    f"/SUBSCRIPTION/{SECRET}",
    # Doubled slashes are merged by the router, which redirects to the path above: the log holds
    # the request as sent.
    f"/unsubscribe//{SECRET}",
    f"//subscribe//confirm//{SECRET}",
    f"/subscription//address/{SECRET}",
    f"/subscription/address/%2F{SECRET}",
]
# A page that came from a token link (were its Referrer-Policy ignored) names it in Referer.
REFERER = f"https://registry.example/subscription/{SECRET}"
ROOT = Path(__file__).resolve().parent.parent


def _get(base: str, path: str) -> int:
    request = urllib.request.Request(base + path, headers={"Referer": REFERER})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _settings(tmp_path: Path) -> dict[str, object]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'registry.sqlite'}",
    }


def _assert_redacted(log: str) -> None:
    assert SECRET not in log and SECRET.lower() not in log.lower(), log
    for expected in (
        "/unsubscribe/<redacted>",
        "/subscription/<redacted>/data.json",
        "/subscription/<redacted>/delete",
        "/subscription/address/<redacted>",
        "/subscribe/confirm/<redacted>",
    ):
        assert expected in log, (expected, log)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_werkzeugs_request_log_redacts_tokens(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path), instance_path=str(tmp_path))
    server = make_server("127.0.0.1", 0, app)
    lines = _Lines()
    werkzeug_log = logging.getLogger("werkzeug")
    werkzeug_log.addHandler(lines)
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.INFO)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        statuses = [_get(base, path) for path in PATHS]
    finally:
        server.shutdown()
        thread.join()
        werkzeug_log.removeHandler(lines)
        werkzeug_log.setLevel(level)
    assert all(400 <= status < 500 for status in statuses), statuses
    log = "\n".join(lines.lines)
    assert len(lines.lines) >= len(PATHS), log
    _assert_redacted(log)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def test_gunicorns_access_log_redacts_tokens(tmp_path: Path) -> None:
    """gunicorn's default access log format, which quotes the request line and the Referer."""
    access_log = tmp_path / "access.log"
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    env.update(
        {
            "FLASK_SECRET_KEY": "test-secret",
            "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'registry.sqlite'}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    sock = _free_socket()
    port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"fd://{sock.fileno()}",
        "--workers",
        "1",
        "--access-logfile",
        str(access_log),
        "--error-logfile",
        str(tmp_path / "error.log"),
        "wsgi:app",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, pass_fds=(sock.fileno(),))
    sock.close()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(base, "/subscription")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail((tmp_path / "error.log").read_text())
                time.sleep(0.2)
        statuses = [_get(base, path) for path in PATHS]
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert all(400 <= status < 500 for status in statuses), statuses
    log = access_log.read_text()
    assert log.count("\n") >= len(PATHS) + 1, log
    assert "/subscription/<redacted>" in log  # the Referer too
    _assert_redacted(log)
    assert SECRET not in (tmp_path / "error.log").read_text()
