"""Benchmark: the public pages against a separate minimal app that serves the same bytes.

A list is read far more than it changes and every version is immutable, so a public answer
should cost about as much as handing out its bytes: the goal is 0.8 or more of the baseline's
requests per second for a page, and a 304 at least as fast as the baseline's own 304. Run by
``make bench``, not by the tests: it is a measurement, so it exits 0 whether or not the goals
are met, and non-zero only when it could not measure (a wrong status or body, a server that
would not start).

What it does, all on loopback and in a temporary folder:
1. migrate a fresh SQLite database with ``flask init-db`` and publish a list of 100 entries
   through the real services, then ~500 more versions (one entry added by each), so that the
   change log, the versions page and far-apart diffs have a real history behind them;
2. serve ``bench.app`` (the real app) with gunicorn, and ask it once for each target, timing
   these first (cold) requests;
3. serve ``bench.baseline`` (a minimal Flask app knowing nothing of the registry, handing out
   the bytes, content types and ETags captured in 2) with gunicorn and the same workers;
4. from this process, load each target and its baseline for a few seconds, side by side,
   alternating over several rounds so that drift affects them alike, checking every response;
   print medians of the per-round ratios, and the workers' memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
ENTRY_COUNTS = (10, 300, 3000)
SHORT_HISTORY = 5  # versions of each sized list: enough for a diff and a change log
HISTORY_ENTRIES = 100  # the list behind the long history
VERSIONS = 500
READY = "/static/style.css"  # polled until the server answers: renders nothing


class BenchError(RuntimeError):
    """The bench could not measure: the figures would mean nothing, so it stops loudly."""


# --- the data ---------------------------------------------------------------------------------

_BRANDS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Adatum", "Litware", "Proseware",
           "Wingtip", "Lucerne", "Woodgrove")  # fmt: skip
_SERVICES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Cloud", "Hosting of the application servers, databases and their replicas.",
     ("Account data", "Customer content", "Usage logs")),
    ("Mail", "Delivery of transactional email (sign-in links, notifications, invoices).",
     ("Name", "Email address", "Email content")),
    ("Support", "Customer support ticketing, live chat and the help centre.",
     ("Name", "Email address", "Support messages")),
    ("Payments", "Payment processing, invoicing and dunning.",
     ("Name", "Billing address", "Payment card data")),
    ("Monitoring", "Application monitoring, error tracking and log analysis.",
     ("IP address", "Usage logs", "Device information")),
    ("Edge", "Content delivery, DDoS protection and DNS.", ("IP address", "Request metadata")),
    ("Backup", "Encrypted off-site backups and disaster-recovery copies.",
     ("Account data", "Customer content")),
    ("Identity", "Single sign-on and multi-factor authentication for customer accounts.",
     ("Name", "Email address", "Authentication logs")),
    ("Analytics", "Product usage statistics used to improve the service.",
     ("Pseudonymous user ID", "Usage events")),
    ("Voice", "Telephone support, call routing and call recording.",
     ("Name", "Phone number", "Call recordings")),
)  # fmt: skip
_EEA = ("DE", "NL", "IE", "FR", "SE", "PL", "CZ", "ES", "IT", "AT", "FI", "DK")
_ELSEWHERE = ("US", "GB", "CH", "SG", "JP", "CA", "AU", "IN")
_LEGAL_FORMS = {"DE": "GmbH", "AT": "GmbH", "NL": "B.V.", "IE": "Limited", "FR": "SAS", "SE": "AB",
                "PL": "sp. z o.o.", "CZ": "s.r.o.", "ES": "S.L.", "IT": "S.r.l.", "FI": "Oy",
                "DK": "ApS", "US": "Inc.", "GB": "Ltd", "CH": "AG", "SG": "Pte. Ltd.", "JP": "K.K.",
                "CA": "Inc.", "AU": "Pty Ltd", "IN": "Pvt. Ltd."}  # fmt: skip
_SCOPES = ("Only for customers on the Enterprise plan.", "Only when a customer enables the integration.",
           "EU data residency customers are excluded.")  # fmt: skip


def realistic_entries(count: int = HISTORY_ENTRIES, seed: int = 20270110) -> list[dict[str, Any]]:
    """Entries shaped like a real SaaS register (mixed kinds, locations, mechanisms), reproducibly.

    The page's cost depends on what it shows, so the entries fill every column the way real ones do
    rather than repeating one short row.
    """
    rng = random.Random(seed)
    entries = []
    for index in range(count):
        brand = _BRANDS[index % len(_BRANDS)]
        service, purpose, categories = _SERVICES[(index // len(_BRANDS)) % len(_SERVICES)]
        # Past 100 the combinations repeat, so a number keeps names (and ids) unique.
        name = f"{brand} {service}" + (f" {index // 100 + 1}" if index >= 100 else "")
        kind = "subcontractor" if index % 10 == 7 else "affiliate" if index % 25 == 3 else "subprocessor"
        corporate = rng.choice(_EEA + _ELSEWHERE)
        locations = rng.sample(_EEA, rng.randint(1, 2))
        if rng.random() < 0.4:
            locations.append(rng.choice(_ELSEWHERE))
        outside = [code for code in [*locations, corporate] if code not in _EEA]
        if not outside:
            mechanism = "none"
        elif "US" in outside:
            mechanism = rng.choice(("dpf", "scc"))
        else:
            mechanism = rng.choice(("adequacy", "scc", "bcr"))
        domain = f"{brand}-{service}".lower()
        since = date(2019, 1, 1) + timedelta(days=rng.randint(0, 6 * 365))
        entries.append(
            {
                "name": name,
                "legal_entity": f"{brand} {service} {_LEGAL_FORMS[corporate]}",
                "purpose": purpose,
                "data_categories": list(categories),
                "locations": locations,
                "corporate_location": corporate,
                "transfer_mechanisms": [mechanism],
                "kind": kind,
                "website": f"https://www.{domain}.example",
                "safeguards_url": f"https://www.{domain}.example/legal/dpa" if index % 5 else "",
                "scope": _SCOPES[index % len(_SCOPES)] if index % 4 == 0 else "",
                "since": since.isoformat(),
            }
        )
    return entries


def prepare_instance(folder: Path, entries: int, versions: int) -> dict[str, str]:
    """Migrate and fill a database in ``folder``; return the environment that serves it.

    The schema comes from the migrations through the operators' own command, and the list through
    the same services as a real edit, so the bench reads what production would read.
    """
    database = folder / "registry.sqlite"
    env = {
        **os.environ,
        "FLASK_SECRET_KEY": secrets.token_hex(32),
        "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        "BENCH_INSTANCE_PATH": str(folder),
        "PYTHONPATH": str(ROOT),
    }
    flask = Path(sys.executable).with_name("flask")
    factory = f"registry:create_app(instance_path={str(folder)!r})"
    done = subprocess.run(
        [str(flask), "--app", factory, "init-db"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchError(f"flask init-db failed:\n{done.stdout}{done.stderr}")
    _publish_list(folder, env, entries, versions)
    return env


def _publish_list(folder: Path, env: dict[str, str], count: int, versions: int) -> None:
    """Publish the default list with ``count`` entries, then more versions up to ``versions``,
    each adding one entry (a day apart, so that the history reads like a real one)."""
    # Imported here, not at the top: run as a script, this file's folder is bench/, not the root.
    sys.path.insert(0, str(ROOT))
    from registry import create_app
    from registry.extensions import db
    from registry.lists import services, workflow
    from registry.lists.models import ChangeAction

    settings = {
        "SECRET_KEY": env["FLASK_SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": env["FLASK_SQLALCHEMY_DATABASE_URI"],
    }
    app = create_app(settings, instance_path=str(folder))
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=versions + 7)
    with app.app_context():
        register_list = services.create_list(
            db.session,
            slug=app.config["DEFAULT_LIST"],
            title="Sub-processors",
            introduction="Example Cloud Ltd uses the following sub-processors to provide its service.",
            now=now,
        )
        changes = [
            workflow.draft_change(db.session, register_list, ChangeAction.ADD, fields=entry, now=now)
            for entry in realistic_entries(count)
        ]
        workflow.publish_first_version(
            db.session, register_list, changes, reason="First publication of the list.", now=now
        )
        db.session.commit()
        later = realistic_entries(count + versions)[count:]
        for number in range(2, versions + 1):
            moment = now + timedelta(days=number)
            fields = later[number - 2]
            change = workflow.draft_change(
                db.session, register_list, ChangeAction.ADD, fields=fields, now=moment
            )
            reason = f"Adds {fields['name']}."
            if number % 5:
                workflow.publish_version(db.session, register_list, [change], reason=reason, now=moment)
            else:
                # Every fifth through a notice, as in real use: the feed and the change log show it.
                notice = workflow.announce(
                    db.session,
                    register_list,
                    [change],
                    reason=reason,
                    effective_at=moment + timedelta(hours=1),
                    now=moment,
                    short_notice_reason="A replacement the bench needs at once.",
                )
                workflow.apply_notice(db.session, notice.id, moment + timedelta(hours=1))
            if number % 50 == 0:
                db.session.commit()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


# --- the server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSettings:
    workers: int
    worker_class: str
    threads: int

    def describe(self) -> str:
        threads = f", {self.threads} threads each" if self.worker_class == "gthread" else ""
        return f"gunicorn {self.workers} {self.worker_class} workers{threads}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    master: int


@contextmanager
def serve(
    settings: ServerSettings, env: dict[str, str], folder: Path, name: str, factory: str, ready: str
) -> Iterator[Server]:
    """Run gunicorn with ``factory`` on a free loopback port until the block ends."""
    port = _free_port()
    log_path = folder / f"gunicorn-{name}.log"
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{HOST}:{port}",
        "--workers", str(settings.workers),
        "--worker-class", settings.worker_class,
        "--threads", str(settings.threads),
        "--timeout", "120",
        "--log-level", "warning",
        "--error-logfile", "-",
        factory,
    ]  # fmt: skip
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(port, server, log_path, ready)
        yield Server(name, port, server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_ready(port: int, server: subprocess.Popen[bytes], log_path: Path, path: str) -> None:
    """Poll until ``path`` answers 200, or fail with the server's log."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"gunicorn exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            client = Client(HOST, port)
            status = client.get(_request(path))[0]
            client.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"gunicorn did not answer within 60 s:\n{log_path.read_text()}")


def worker_memory_mib(master: int) -> list[float]:
    """Peak resident memory of each of the master's workers so far (VmHWM), in MiB; empty where
    /proc is unavailable."""
    sizes = []
    for pid in _workers(master):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return sizes


def _workers(master: int) -> list[int]:
    found = []
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == master:
                    found.append(int(entry.name))
    except OSError:
        return []
    return found


def worker_cpu_seconds(master: int) -> float | None:
    """CPU time (user + system) used so far by the master's worker processes, from /proc.

    Requests per second on one machine also measure the load generator; CPU per request on the
    server does not, so it is reported next to it. None where /proc is unavailable.
    """
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    try:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == master:  # fields[1] is the parent pid
                total += (int(fields[11]) + int(fields[12])) / ticks
    except OSError:
        return None
    return total


# --- the load generator -----------------------------------------------------------------------


def _request(path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}", "Accept-Encoding: identity"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Client:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads whole responses.

    Deliberately minimal: it shares two cores with the server, and every microsecond it spends per
    request is taken from the server and blurs the comparison. ``http.client`` parses headers through
    the email package, several times the cost of this. Anything unexpected (chunked bodies, a short
    read) raises instead of being guessed at.
    """

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buffer = b""

    def get(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send ``request``; return status, headers (lower-case names) and body.

        Reconnects after ``Connection: close`` (gunicorn's sync workers close after every response).
        """
        reused = self.sock is not None
        try:
            return self._exchange(request)
        except ConnectionError:
            if not reused:
                raise
            # The server may drop an idle keep-alive connection between rounds: retry once, fresh.
            self.close()
            return self._exchange(request)

    def _exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.sock is None:
            # Long enough for a cold rendering of a long history (the figure the bench reports).
            self.sock = socket.create_connection(self.address, timeout=120)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            raise BenchError("unexpected chunked response")
        if status == 304 or status < 200 or status == 204:
            length = 0
        elif "content-length" in headers:
            length = int(headers["content-length"])
        else:
            raise BenchError(f"response {status} without Content-Length")
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionResetError("the server closed the connection mid-response")
        self.buffer += chunk


@dataclass(frozen=True)
class Target:
    """One thing to load: a path, its request headers, and the only answer that counts."""

    label: str
    server: Server
    path: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def request(self) -> bytes:
        return _request(self.path, self.headers)


@dataclass
class Sample:
    requests: int
    seconds: float
    server_cpu: float | None
    client_cpu: float


def load(target: Target, connections: int, seconds: float) -> Sample:
    """Keep ``connections`` requests in flight on ``target`` for ``seconds``; check every answer."""
    request = target.request
    port, master = target.server.port, target.server.master
    counts = [0] * connections
    failures: list[str] = []
    start_line = threading.Barrier(connections + 1)
    deadline = 0.0

    def run(slot: int) -> None:
        client = Client(HOST, port)
        start_line.wait()
        done = 0
        try:
            while time.perf_counter() < deadline:
                status, _, body = client.get(request)
                if status != target.status or body != target.body:
                    failures.append(
                        f"{target.label}: got {status} with {len(body)} bytes, expected "
                        f"{target.status} with {len(target.body)} bytes"
                    )
                    return
                done += 1
        except (OSError, BenchError, ValueError) as error:
            failures.append(f"{target.label}: {error.__class__.__name__}: {error}")
        finally:
            counts[slot] = done
            client.close()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(connections)]
    for thread in threads:
        thread.start()
    cpu_before, client_before = worker_cpu_seconds(master), time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    start_line.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu_after, client_after = worker_cpu_seconds(master), time.process_time()
    if failures:
        raise BenchError("wrong answers, so no figures:\n  " + "\n  ".join(failures[:10]))
    server_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Sample(sum(counts), elapsed, server_cpu, client_after - client_before)


# --- nginx, serving the same bytes as files ---------------------------------------------------


def find_nginx() -> str | None:
    """Debian's nginx (installed by ``bin/ensure-nginx``), or None."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@contextmanager
def serve_nginx(
    binary: str, folder: Path, files: dict[str, tuple[Path, str]], workers: int
) -> Iterator[Server]:
    """nginx in the foreground (``daemon off``) with a configuration in ``folder``, serving each
    ``files`` URL path from its file with its content type, and its own ETags and 304s.

    It closes every connection after a response, as gunicorn's sync workers do, so that both pay
    for a new connection per request. Run as root, its workers run as nobody: the folder is made
    readable for them (it holds only generated data).
    """
    port = _free_port()
    locations = "\n".join(
        f'    location = {url} {{ default_type "{content_type}"; alias {path}; }}'
        for url, (path, content_type) in files.items()
    )
    user = "user nobody nogroup;" if os.geteuid() == 0 else ""
    temp = folder / "nginx-temp"
    temp.mkdir(exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(
        f"""{user}
daemon off;
worker_processes {workers};
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log off;
  types {{ }}
  default_type application/octet-stream;
  sendfile on;
  keepalive_timeout 0;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  server {{
    listen {HOST}:{port};
{locations}
  }}
}}
"""
    )
    for path in (folder, *folder.rglob("*")):
        path.chmod(path.stat().st_mode | 0o005 if path.is_dir() else path.stat().st_mode | 0o004)
    log_path = folder / "nginx-error.log"
    command = [binary, "-c", str(config), "-p", str(folder), "-e", str(log_path)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_until_ready(port, server, log_path, next(iter(files)))
        yield Server("nginx", port, server.pid)
    finally:
        server.send_signal(signal.SIGQUIT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    name: str
    entries: int
    versions: int


def datasets(entries: list[int], history: int) -> list[Dataset]:
    """One list per size with a short history (so that diffs exist), and one long history."""
    found = [Dataset(f"{count:,} entries", count, SHORT_HISTORY) for count in entries]
    if history:
        found.append(Dataset(f"{history} versions", HISTORY_ENTRIES, history))
    return found


def routes(versions: int) -> list[tuple[str, str]]:
    """(route, path): every public answer the issue names, for one list with ``versions``."""
    return [
        ("page", "/processors"),
        ("JSON", "/processors.json"),
        ("CSV", "/processors.csv"),
        ("feed", "/processors/feed.atom"),
        ("diff", f"/processors/diff?from=1&to={max(versions, 2)}"),
        ("change log", "/processors/changes"),
        ("versions", "/processors/versions"),
    ]


@dataclass(frozen=True)
class Captured:
    route: str
    path: str
    body: bytes
    content_type: str
    etag: str
    first_seconds: float
    first_cpu: float | None  # the workers' CPU seconds for it: what load on the machine blurs less


def capture(server: Server, versions: int) -> list[Captured]:
    """Ask the real app once for each route (cold: the first request since start), timing it."""
    client = Client(HOST, server.port)
    found = []
    for route, path in routes(versions):
        cpu_before = worker_cpu_seconds(server.master)
        started = time.perf_counter()
        answer = _fetch(client, path)
        elapsed = time.perf_counter() - started
        cpu_after = worker_cpu_seconds(server.master)
        cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        if not answer["etag"]:
            raise BenchError(f"{path} sends no ETag, so it cannot be revalidated")
        found.append(Captured(route, path, answer["body"], answer["type"], answer["etag"], elapsed, cpu))
    client.close()
    return found


def write_baseline(captured: list[Captured], folder: Path) -> tuple[Path, dict[str, tuple[Path, str]]]:
    """The manifest ``bench.baseline`` serves, and the files nginx serves (by ``/b/<index>``)."""
    manifest = {}
    files: dict[str, tuple[Path, str]] = {}
    served = folder / "served"
    served.mkdir(exist_ok=True)
    for index, answer in enumerate(captured):
        body_file = served / f"{index}.bin"
        body_file.write_bytes(answer.body)
        manifest[answer.path] = [str(body_file), answer.content_type, answer.etag]
        files[f"/b/{index}"] = (body_file, answer.content_type)
    path = folder / "baseline.json"
    path.write_text(json.dumps(manifest))
    return path, files


@dataclass(frozen=True)
class Trio:
    """One route and status on the app, on the Flask baseline and on nginx, measured together."""

    route: str
    status: int
    real: Target
    flask: Target
    nginx: Target | None

    def targets(self) -> list[Target]:
        return [t for t in (self.real, self.flask, self.nginx) if t is not None]


def build_trios(captured: list[Captured], real: Server, base: Server, nginx: Server | None) -> list[Trio]:
    """Each route's 200 and 304 on the three servers, after checking that they serve the same bytes."""
    flask_client = Client(HOST, base.port)
    nginx_client = Client(HOST, nginx.port) if nginx else None
    trios = []
    for index, answer in enumerate(captured):
        served = _fetch(flask_client, answer.path)
        if served["body"] != answer.body or served["type"] != answer.content_type:
            raise BenchError(f"the Flask baseline for {answer.path} does not serve the same bytes and type")
        nginx_etag = ""
        if nginx and nginx_client:
            from_file = _fetch(nginx_client, f"/b/{index}")
            if from_file["body"] != answer.body:
                raise BenchError(f"nginx does not serve the same bytes for {answer.path}")
            nginx_etag = from_file["etag"] or ""
            if not nginx_etag:
                raise BenchError("nginx sends no ETag")
        for status in (200, 304):
            body = answer.body if status == 200 else b""
            mine = {"If-None-Match": answer.etag} if status == 304 else {}
            theirs = {"If-None-Match": nginx_etag} if status == 304 else {}
            label = f"{answer.route} {status}"
            trios.append(
                Trio(
                    answer.route,
                    status,
                    Target(label, real, answer.path, status, body, mine),
                    Target(f"flask {label}", base, answer.path, status, body, mine),
                    Target(f"nginx {label}", nginx, f"/b/{index}", status, body, theirs) if nginx else None,
                )
            )
    flask_client.close()
    if nginx_client:
        nginx_client.close()
    return trios


def _fetch(client: Client, path: str) -> dict[str, Any]:
    """GET ``path`` once, keeping what the targets are checked against."""
    status, headers, body = client.get(_request(path))
    if status != 200:
        raise BenchError(f"{path} answered {status}")
    return {"body": body, "type": headers.get("content-type"), "etag": headers.get("etag")}


def measure(trios: list[Trio], args: argparse.Namespace) -> dict[str, list[Sample]]:
    """Warm every target up, then load them in short windows over several rounds.

    A route on the app, on Flask and on nginx are measured next to each other in every round, in
    an order that rotates, so that drift (other processes, CPU frequency) affects them alike and
    each round yields its own ratios.
    """
    for trio in trios:
        for target in trio.targets():
            load(target, args.connections, args.warmup)
    samples: dict[str, list[Sample]] = {t.label: [] for trio in trios for t in trio.targets()}
    for round_number in range(args.rounds):
        ordered = list(reversed(trios)) if round_number % 2 else trios
        for trio in ordered:
            group = trio.targets()
            shift = round_number % len(group)
            for target in group[shift:] + group[:shift]:
                samples[target.label].append(load(target, args.connections, args.seconds))
        print(f"  round {round_number + 1}/{args.rounds} done", flush=True)
    return samples


def _rate(sample: Sample) -> float:
    return sample.requests / sample.seconds


def ratios(samples: dict[str, list[Sample]], mine: Target, theirs: Target | None) -> list[float]:
    """The app's requests/s over a baseline's, round by round (measured side by side)."""
    if theirs is None:
        return []
    pairs = zip(samples[mine.label], samples[theirs.label], strict=True)
    return [_rate(a) / _rate(b) for a, b in pairs]


def _ratio_text(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _rate_text(samples: list[Sample]) -> str:
    return f"{sum(s.requests for s in samples) / sum(s.seconds for s in samples):,.0f}"


@dataclass
class Result:
    dataset: Dataset
    captured: list[Captured]
    trios: list[Trio]
    samples: dict[str, list[Sample]]
    memory: dict[str, list[float]]
    load: tuple[float, float]
    prepared_seconds: float


def report(result: Result) -> None:
    """One table for the dataset: per route, its size and cold render, then for its 200 and its
    304 the app's requests/s and its ratio to Flask and to nginx (median, range over rounds)."""
    samples = result.samples
    by_route: dict[str, dict[int, Trio]] = {}
    for trio in result.trios:
        by_route.setdefault(trio.route, {})[trio.status] = trio
    print()
    print(
        f"### {result.dataset.name} ({result.dataset.entries:,} entries, {result.dataset.versions} "
        f"versions; load {result.load[0]:.1f} before, {result.load[1]:.1f} after)"
    )
    header = (
        f"{'route':<11}{'bytes':>11}{'cold ms':>9}{'CPU ms':>8}{'200/s':>8}{'vs Flask':>18}{'vs nginx':>18}"
        f"{'304/s':>8}{'vs Flask':>18}{'vs nginx':>18}"
    )
    print(header)
    for answer in result.captured:
        cpu = f"{answer.first_cpu * 1000:.0f}" if answer.first_cpu is not None else "n/a"
        line = f"{answer.route:<11}{len(answer.body):>11,}{answer.first_seconds * 1000:>9.0f}{cpu:>8}"
        for status in (200, 304):
            trio = by_route[answer.route][status]
            line += f"{_rate_text(samples[trio.real.label]):>8}"
            line += f"{_ratio_text(ratios(samples, trio.real, trio.flask)):>18}"
            line += f"{_ratio_text(ratios(samples, trio.real, trio.nginx)):>18}"
        print(line)
    for name, sizes in result.memory.items():
        shown = ", ".join(f"{size:.0f} MiB" for size in sizes) or "n/a"
        print(f"peak memory per worker, {name}: {shown}")


def run_dataset(
    dataset: Dataset, settings: ServerSettings, args: argparse.Namespace, nginx_binary: str | None
) -> Result:
    """Prepare the dataset, capture its answers cold, then measure the three servers."""
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as tmp:
        folder = Path(tmp)
        print(
            f"Preparing {dataset.name}: {dataset.entries:,} entries, {dataset.versions} versions", flush=True
        )
        prepared = time.monotonic()
        env = prepare_instance(folder, dataset.entries, dataset.versions)
        prepared_seconds = time.monotonic() - prepared
        print(f"  prepared in {prepared_seconds:.0f} s", flush=True)
        before = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        with serve(settings, env, folder, "real", "bench.app:create_bench_app()", READY) as real:
            captured = capture(real, dataset.versions)
            manifest, files = write_baseline(captured, folder)
            base_env = {**env, "BENCH_BASELINE_FILE": str(manifest)}
            factory = "bench.baseline:create_baseline_app()"
            with (
                serve(settings, base_env, folder, "flask", factory, captured[0].path) as base,
                (
                    serve_nginx(nginx_binary, folder, files, settings.workers) if nginx_binary else _nothing()
                ) as nginx,
            ):
                trios = build_trios(captured, real, base, nginx)
                samples = measure(trios, args)
                memory = {server.name: worker_memory_mib(server.master) for server in (real, base)}
        after = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return Result(dataset, captured, trios, samples, memory, (before, after), prepared_seconds)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Two cores are shared by the server and this load generator. Two workers keep both cores busy
    # while the generator waits on the network. Sync is gunicorn's default and what runs behind a
    # buffering proxy: it closes every connection, so each request also pays for a new one, for the
    # real pages and the baselines alike. ``--worker-class gthread`` measures with keep-alive instead.
    parser.add_argument("--workers", type=int, default=2, help="gunicorn and nginx workers (default 2)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (default sync)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker (default 1)")
    # Two per worker: each worker always finds the next connection waiting.
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections (default 4)")
    parser.add_argument("--seconds", type=float, default=0.5, help="per target per round (default 0.5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all targets (default 3)")
    parser.add_argument("--warmup", type=float, default=0.2, help="warm-up per target (default 0.2)")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 0.25 s: a rough look")
    parser.add_argument(
        "--entries",
        default=",".join(str(n) for n in ENTRY_COUNTS),
        help="list sizes, comma-separated (default 10,300,3000; each with a short history)",
    )
    parser.add_argument(
        "--versions",
        type=int,
        default=VERSIONS,
        help=f"versions of the long history, on a list of {HISTORY_ENTRIES} entries (default {VERSIONS}; 0: none)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.warmup = 2, 0.25, 0.1
    settings = ServerSettings(args.workers, args.worker_class, args.threads)
    counts = [int(text) for text in args.entries.split(",") if text.strip()]
    nginx_binary = find_nginx()
    started = time.monotonic()
    print(
        f"Servers: {settings.describe()} for the app and for the Flask baseline (bench/baseline.py)", end=""
    )
    print(f"; nginx {settings.workers} workers serving the same bytes as files" if nginx_binary else "")
    if not nginx_binary:
        print("nginx is not installed (bin/ensure-nginx installs it): no nginx column")
    connections = (
        "keep-alive connections"
        if settings.worker_class != "sync"
        else "connections, a new one per request (sync workers and nginx close each after a response)"
    )
    print(f"Load:    {args.connections} concurrent {connections}, from this process's threads")
    print(
        f"Rounds:  {args.rounds} of {args.seconds:g} s per target, order rotating, each route next to its "
        f"baselines; {args.warmup:g} s warm-up per target"
    )
    print(f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, load average {_load_text()}")
    results = []
    try:
        for dataset in datasets(counts, args.versions):
            results.append(run_dataset(dataset, settings, args, nginx_binary))
    except BenchError as error:
        print(f"BENCH FAILED: {error}", file=sys.stderr)
        return 1
    print()
    print("cold ms: the route's first request after the server started (rendered, then stored), wall")
    print("clock; CPU ms: the workers' CPU time for it (in clock ticks of 10 ms), which load blurs less.")
    print("vs Flask / vs nginx: median over rounds of the app's requests/s over the baseline's in the")
    print("same round (min-max in brackets). Goals: 200s at 0.8 or more of Flask, 304s at 1.0 or more.")
    for result in results:
        report(result)
    print(f"\nLoad average at the end: {_load_text()}. Took {time.monotonic() - started:.0f} s.")
    return 0


def _load_text() -> str:
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return " ".join(f"{value:.1f}" for value in os.getloadavg()) + " (1, 5, 15 min)"


if __name__ == "__main__":
    sys.exit(main())
