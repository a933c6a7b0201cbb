"""Concurrent use of the real server: gunicorn (2 workers x 4 threads) on a SQLite demo database.

Eight API clients (bearer tokens; reads, drafts, discards, announcements) and eight readers of the
public pages (lists, JSON, feeds, sign-ups, one-click unsubscribes) share the server for
``REGISTRY_LOAD_SECONDS`` (20) seconds while the in-process scheduler applies, bundles and delivers.
No answer may be a 5xx and no connection may break: a busy database is waited for, or at worst
answered with a 503 the client can retry, never a 500.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from registry import create_app
from registry.database import upgrade_schema
from registry.extensions import db

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "concurrency-test-secret"
DURATION = float(os.environ.get("REGISTRY_LOAD_SECONDS", "20"))
WORKERS, THREADS = 2, 4
API_CLIENTS, PAGE_CLIENTS = 8, 8
SUBSCRIBERS = 120
SERVER_START_SECONDS = 30.0
REQUEST_TIMEOUT = 30.0
LIST = "sub-processors"


# --- the database, made once before the server starts ------------------------------------------


@dataclass
class Seed:
    """What the clients need that only the database can give: API tokens, unsubscribe links."""

    api_tokens: list[str]
    unsubscribe_tokens: list[str]


def _seed(database_url: str, instance_path: Path) -> Seed:
    """Migrate, load the demo and add tokens and confirmed subscribers, through the real services."""
    from registry.accounts import services as accounts
    from registry.audit.services import SYSTEM
    from registry.lists import services as lists
    from registry.subscriptions import tokens
    from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus, Subscription
    from registry.timeutil import utcnow

    app = create_app(
        {"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": database_url, "SCHEDULER_IN_PROCESS": False},
        instance_path=str(instance_path),
    )
    with app.app_context():
        upgrade_schema()
        result = app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        now = utcnow()
        editor = accounts.find_user(db.session, "editor@example.com")
        assert editor is not None
        api_tokens = [
            accounts.create_token(db.session, editor, f"load {n}", actor=SYSTEM, now=now)
            for n in range(API_CLIENTS)
        ]
        register_list = lists.get_list(db.session, LIST)
        assert register_list is not None
        subscribers = [
            Subscriber(
                email=f"reader{n}@example.com",
                status=SubscriberStatus.CONFIRMED,
                confirmations=1,
                created_at=now,
                requested_at=now,
                confirmed_at=now,
                subscriptions=[
                    Subscription(list_id=register_list.id, frequency=Frequency.EACH, created_at=now)
                ],
            )
            for n in range(SUBSCRIBERS)
        ]
        db.session.add_all(subscribers)
        db.session.commit()
        unsubscribe_tokens = [tokens.unsubscribe_token(subscriber) for subscriber in subscribers]
        db.session.remove()
        db.engine.dispose()
    return Seed(api_tokens, unsubscribe_tokens)


# --- the server --------------------------------------------------------------------------------


def _server_env(database_url: str, folder: Path, base_url: str) -> dict[str, str]:
    """Only our settings reach gunicorn (a developer's FLASK_* variables are dropped).

    The scheduler runs in each worker and ticks every second or two, so jobs write while the
    clients do; the sign-up limits are lifted so that the clients measure the database, not them.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    env.update(
        {
            "FLASK_SECRET_KEY": SECRET_KEY,
            "FLASK_SQLALCHEMY_DATABASE_URI": database_url,
            "FLASK_PUBLIC_BASE_URL": base_url,
            "FLASK_MAIL_FOLDER": str(folder / "mail"),
            "FLASK_SCHEDULER_IN_PROCESS": "true",
            "FLASK_APPLY_CHANGES_EVERY_SECONDS": "1",
            "FLASK_DELIVER_EVERY_SECONDS": "1",
            "FLASK_DIGESTS_EVERY_SECONDS": "2",
            "FLASK_RETENTION_EVERY_SECONDS": "2",
            "FLASK_SUBSCRIBE_LIMIT_PER_IP": "1000000 per hour",
            "FLASK_SUBSCRIBE_LIMIT_PER_ADDRESS": "1000000 per hour",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _listening_socket() -> socket.socket:
    """A socket on a free port, handed to gunicorn: no other process can take the port meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _wait_until_answering(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    host, port = base_url.removeprefix("http://").split(":")
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        connection = http.client.HTTPConnection(host, int(port), timeout=2)
        try:
            connection.request("GET", "/processors")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer in {SERVER_START_SECONDS:.0f} s:\n{log_path.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Server:
    url: str
    log_path: Path
    seed: Seed


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The demo, served by gunicorn with 2 workers of 4 threads and the scheduler in each."""
    instance_path = tmp_path / "instance"
    database_url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    seed = _seed(database_url, instance_path)
    log_path = tmp_path / "server.log"
    app = f"registry:create_app(instance_path={str(instance_path)!r})"
    with log_path.open("w") as log, _listening_socket() as sock:
        host, port = sock.getsockname()
        url = f"http://{host}:{port}"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                f"--bind=fd://{sock.fileno()}",
                "--worker-class=gthread",
                f"--workers={WORKERS}",
                f"--threads={THREADS}",
                "--graceful-timeout=5",
                "--no-control-socket",
                "--log-level=warning",
                app,
            ],
            cwd=ROOT,
            env=_server_env(database_url, tmp_path, url),
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
        )
    try:
        _wait_until_answering(url, process, log_path)
        yield Server(url, log_path, seed)
    finally:
        _stop(process)


# --- the clients -------------------------------------------------------------------------------


@dataclass
class Tally:
    """Every answer, by client kind, route and status; shared by all client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    broken: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def add(self, kind: str, route: str, status: int, body: bytes) -> None:
        with self.lock:
            self.answers[(kind, route, status)] += 1
            if status >= 500 and len(self.server_errors) < 10:
                self.server_errors.append(f"{status} {route}: {body[:300]!r}")

    def total(self, predicate: Callable[[int], bool] = lambda _status: True) -> int:
        return sum(n for (_kind, _route, status), n in self.answers.items() if predicate(status))

    def report(self) -> str:
        lines = [
            f"{kind:6} {route:40} {status}  {n}" for (kind, route, status), n in sorted(self.answers.items())
        ]
        lines.append(
            f"requests: {self.total()}, 5xx: {self.total(lambda s: s >= 500)}, broken: {len(self.broken)}"
        )
        return "\n".join(lines)


class Client:
    """One keep-alive HTTP connection, reopened when the server closes it."""

    def __init__(self, base_url: str, kind: str, tally: Tally):
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port, self.kind, self.tally = host, int(port), kind, tally
        self.connection: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        route: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request and count its answer under ``route``; (0, b"") when it broke."""
        for attempt in range(2):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(
                        self.host, self.port, timeout=REQUEST_TIMEOUT
                    )
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.close()
                # A kept-alive connection the server closed meanwhile: retried once, fresh.
                if attempt == 0 and isinstance(error, http.client.RemoteDisconnected | BrokenPipeError):
                    continue
                with self.tally.lock:
                    self.tally.broken.append(f"{method} {route}: {error!r}")
                return 0, b""
            if response.will_close:
                self.close()
            self.tally.add(self.kind, f"{method} {route}", response.status, data)
            return response.status, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _processor(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "purpose": "Load testing of the registry.",
        "locations": ["DE"],
        "transfer_mechanisms": ["none"],
    }


def _api_client(client: Client, token: str, stop: threading.Event, rng: random.Random, n: int) -> None:
    """An editor's script: reads most of the time, drafts and discards, now and then announces."""
    auth = {"Authorization": f"Bearer {token}"}
    posting = {**auth, "Content-Type": "application/json"}
    serial = 0
    while not stop.is_set():
        serial += 1
        roll = rng.random()
        if roll < 0.35:
            client.request("GET", "/api/v1/lists", "/api/v1/lists", headers=auth)
        elif roll < 0.5:
            client.request(
                "GET", f"/api/v1/lists/{LIST}/changes?limit=5", "/api/v1/lists/{slug}/changes", headers=auth
            )
        elif roll < 0.95:
            body = json.dumps({"action": "add", "processor": _processor(f"Load {n}-{serial}")}).encode()
            status, data = client.request(
                "POST", f"/api/v1/lists/{LIST}/drafts", "/api/v1/lists/{slug}/drafts", body, posting
            )
            if status == 201:
                change_id = json.loads(data)["id"]
                client.request(
                    "POST", f"/api/v1/changes/{change_id}/discard", "/api/v1/changes/{id}/discard", b"", auth
                )
        else:
            effective = (datetime.now(UTC) + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = json.dumps(
                {
                    "action": "add",
                    "processor": _processor(f"Announced {n}-{serial}"),
                    "effective_at": effective,
                    "reason": "Load testing.",
                }
            ).encode()
            client.request(
                "POST", f"/api/v1/lists/{LIST}/changes", "/api/v1/lists/{slug}/changes", body, posting
            )


PAGES = (
    "/processors",
    "/processors.json",
    "/processors/feed.atom",
    "/processors/feed.rss",
    "/processors/changes",
)


def _page_client(
    client: Client, unsubscribe: list[str], stop: threading.Event, rng: random.Random, n: int
) -> None:
    """A reader: mostly pages and feeds; sign-ups, and one-click unsubscribes while links last."""
    form = {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}
    serial = 0
    while not stop.is_set():
        serial += 1
        roll = rng.random()
        if roll < 0.7:
            page = rng.choice(PAGES)
            client.request("GET", page, page)
        elif roll < 0.9:
            body = urlencode({"email": f"signup{n}-{serial}@example.com", "lists": LIST, "frequency": "each"})
            client.request("POST", "/subscribe", "/subscribe", body.encode(), form)
        elif unsubscribe:
            token = unsubscribe.pop()
            one_click = {"Content-Type": "application/x-www-form-urlencoded"}
            client.request(
                "POST",
                f"/unsubscribe/{token}",
                "/unsubscribe/{token}",
                b"List-Unsubscribe=One-Click",
                one_click,
            )


def _run_clients(server: Server, tally: Tally) -> None:
    stop = threading.Event()
    links = list(server.seed.unsubscribe_tokens)
    links_per_client = len(links) // PAGE_CLIENTS
    threads = []
    clients = []
    for n in range(API_CLIENTS):
        client = Client(server.url, "api", tally)
        clients.append(client)
        args = (client, server.seed.api_tokens[n], stop, random.Random(n), n)
        threads.append(threading.Thread(target=_api_client, args=args, daemon=True))
    for n in range(PAGE_CLIENTS):
        client = Client(server.url, "pages", tally)
        clients.append(client)
        own = links[n * links_per_client : (n + 1) * links_per_client]
        args = (client, own, stop, random.Random(100 + n), n)
        threads.append(threading.Thread(target=_page_client, args=args, daemon=True))
    for thread in threads:
        thread.start()
    time.sleep(DURATION)
    stop.set()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT + 5)
    for client in clients:
        client.close()
    assert not any(thread.is_alive() for thread in threads), "a client hung"


def test_no_server_error_under_concurrent_use(server: Server) -> None:
    tally = Tally()
    _run_clients(server, tally)
    print(
        f"\n{API_CLIENTS} API and {PAGE_CLIENTS} page clients, {DURATION:.0f} s, "
        f"gunicorn {WORKERS} workers x {THREADS} threads:\n{tally.report()}"
    )
    log = server.log_path.read_text(errors="replace")
    assert not tally.server_errors, "\n".join(tally.server_errors) + "\n" + log[-3000:]
    assert not tally.broken, "\n".join(tally.broken[:10])
    # The run did what it claims: writes of every kind went through while others read.
    assert tally.answers[("api", "POST /api/v1/lists/{slug}/drafts", 201)] > 0
    assert tally.answers[("api", "POST /api/v1/changes/{id}/discard", 200)] > 0
    assert tally.answers[("pages", "POST /subscribe", 200)] > 0
    assert "Traceback" not in log, log[-3000:]
