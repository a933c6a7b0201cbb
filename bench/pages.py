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
ENTRIES = 100
VERSIONS = 500
PAGE_GOAL = 0.8  # real page req/s over baseline req/s
REVALIDATION_GOAL = 1.0  # 304 req/s over baseline req/s


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


def realistic_entries(count: int = ENTRIES, seed: int = 20270110) -> list[dict[str, Any]]:
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


def prepare_instance(folder: Path, versions: int) -> dict[str, str]:
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
    _publish_list(folder, env, versions)
    return env


def _publish_list(folder: Path, env: dict[str, str], versions: int) -> None:
    """Publish the default list with ``ENTRIES`` entries, then more versions up to ``versions``,
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
            for entry in realistic_entries()
        ]
        workflow.publish_first_version(
            db.session, register_list, changes, reason="First publication of the list.", now=now
        )
        db.session.commit()
        later = realistic_entries(ENTRIES + versions)[ENTRIES:]
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
    """Resident memory of each of the master's workers, in MiB (empty where /proc is unavailable)."""
    sizes = []
    for pid in _workers(master):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
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
    baseline: str | None = None  # label of the target it is compared with
    goal: float | None = None

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


# --- the run ----------------------------------------------------------------------------------


def paths(versions: int) -> list[tuple[str, bool]]:
    """(path, whether its 304 is measured too): the list, diffs near and far, history, a feed."""
    far = max(versions, 2)
    # The newest older page of the history (as registry.lists.history cuts it, 50 a page).
    floor = max(0, (far - 50) // 50 * 50)
    older = [(f"/processors/changes?before={floor + 1}", False)] if floor else []
    return [
        ("/processors", True),
        ("/processors.json", False),
        (f"/processors/diff?from={max(far - 4, 1)}&to={far}", True),
        (f"/processors/diff?from=1&to={far}", True),
        (f"/processors/diff.json?from=1&to={far}", True),
        (f"/processors/versions/{max(far // 2, 1)}.json", False),
        ("/processors/changes", True),
        ("/processors/versions", False),
        *older,
        ("/processors/feed.atom", True),
    ]


@dataclass(frozen=True)
class Captured:
    path: str
    body: bytes
    content_type: str
    etag: str
    first_seconds: float
    with_304: bool


def capture(server: Server, versions: int) -> list[Captured]:
    """Ask the real app once for each path (cold: the first request a worker sees), timing it."""
    client = Client(HOST, server.port)
    found = []
    for path, with_304 in paths(versions):
        started = time.perf_counter()
        answer = _fetch(client, path)
        elapsed = time.perf_counter() - started
        if with_304 and not answer["etag"]:
            raise BenchError(f"{path} sends no ETag, so it cannot be revalidated")
        found.append(Captured(path, answer["body"], answer["type"], answer["etag"] or "", elapsed, with_304))
    client.close()
    return found


def write_baseline(captured: list[Captured], folder: Path) -> Path:
    """The manifest ``bench.baseline`` serves: each path's body file, content type and ETag."""
    manifest = {}
    for index, answer in enumerate(captured):
        body_file = folder / f"baseline-{index}.bin"
        body_file.write_bytes(answer.body)
        manifest[answer.path] = [str(body_file), answer.content_type, answer.etag]
    path = folder / "baseline.json"
    path.write_text(json.dumps(manifest))
    return path


def build_targets(captured: list[Captured], real: Server, base: Server) -> list[Target]:
    """Each path on the real app and on the baseline, and each revalidation on both."""
    client = Client(HOST, base.port)
    targets: list[Target] = []
    for answer in captured:
        served = _fetch(client, answer.path)
        if served["body"] != answer.body or served["type"] != answer.content_type:
            raise BenchError(f"the baseline for {answer.path} does not serve the same bytes and type")
        baseline = f"baseline {answer.path}"
        targets += [
            Target(baseline, base, answer.path, 200, answer.body),
            Target(answer.path, real, answer.path, 200, answer.body, baseline=baseline, goal=PAGE_GOAL),
        ]
        if answer.with_304:
            revalidate = {"If-None-Match": answer.etag}
            base_304 = f"baseline {answer.path} 304"
            targets += [
                Target(base_304, base, answer.path, 304, b"", headers=revalidate),
                Target(
                    f"{answer.path} 304",
                    real,
                    answer.path,
                    304,
                    b"",
                    headers=revalidate,
                    baseline=base_304,
                    goal=REVALIDATION_GOAL,
                ),
            ]
    client.close()
    return targets


def _fetch(client: Client, path: str) -> dict[str, Any]:
    """GET ``path`` once, keeping what the targets are checked against."""
    status, headers, body = client.get(_request(path))
    if status != 200:
        raise BenchError(f"{path} answered {status}")
    return {"body": body, "type": headers.get("content-type"), "etag": headers.get("etag")}


def measure(targets: list[Target], args: argparse.Namespace) -> dict[str, list[Sample]]:
    """Warm every target up, then load them in short windows over several rounds.

    A page and its baseline are measured next to each other in every round, in an order that
    rotates, so that drift (other processes, CPU frequency, the page cache) affects them alike and
    each round yields its own ratio.
    """
    for target in targets:
        load(target, args.connections, args.warmup)
    groups: dict[str, list[Target]] = {}
    for target in targets:
        groups.setdefault(target.baseline or target.label, []).append(target)
    samples: dict[str, list[Sample]] = {target.label: [] for target in targets}
    for round_number in range(args.rounds):
        ordered = list(groups.values())
        if round_number % 2:
            ordered.reverse()
        for group in ordered:
            shift = round_number % len(group)
            for target in group[shift:] + group[:shift]:
                samples[target.label].append(load(target, args.connections, args.seconds))
        print(f"  round {round_number + 1}/{args.rounds} done", flush=True)
    return samples


def _rate(sample: Sample) -> float:
    return sample.requests / sample.seconds


def round_ratios(samples: dict[str, list[Sample]], target: Target) -> list[float]:
    """The target's requests/s over its baseline's, round by round (measured side by side)."""
    if target.baseline is None:
        return [1.0] * len(samples[target.label])
    pairs = zip(samples[target.label], samples[target.baseline], strict=True)
    return [_rate(mine) / _rate(base) for mine, base in pairs]


def report(targets: list[Target], samples: dict[str, list[Sample]]) -> None:
    """Print requests per second, the ratio to the baseline, server CPU per request, and the goals."""

    def cpu_per_request(label: str, attribute: str) -> float | None:
        runs = samples[label]
        values = [getattr(s, attribute) for s in runs]
        if any(value is None for value in values):
            return None
        return sum(values) / sum(s.requests for s in runs) * 1e6

    print()
    header = f"{'target':<24}{'requests':>9}{'req/s':>9}{'rounds min-max':>17}{'vs baseline':>13}"
    print(header + f"{'server CPU/req':>16}{'vs baseline':>13}{'client CPU/req':>16}")
    for target in targets:
        runs = samples[target.label]
        rates = [_rate(s) for s in runs]
        total = sum(s.requests for s in runs)
        server = cpu_per_request(target.label, "server_cpu")
        base_server = cpu_per_request(target.baseline or target.label, "server_cpu")
        client = cpu_per_request(target.label, "client_cpu")
        server_text = f"{server:.0f} µs" if server is not None else "n/a"
        cpu_ratio = f"{base_server / server:.2f}" if server and base_server else "n/a"
        print(
            f"{target.label:<24}{total:>9}{total / sum(s.seconds for s in runs):>9.0f}"
            f"{f'{min(rates):.0f}-{max(rates):.0f}':>17}{median(round_ratios(samples, target)):>13.2f}"
            f"{server_text:>16}{cpu_ratio:>13}{client or 0:>13.0f} µs"
        )
    print()
    print("First 'vs baseline': the median over rounds of requests/s over the baseline's in the same")
    print("round (what the goals are judged on). Second: the baseline's server CPU per request over the")
    print("target's, the same comparison without the load generator's share of the two cores.")
    print()
    for target in targets:
        if target.baseline is None or target.goal is None:
            continue
        ratios = round_ratios(samples, target)
        verdict = "GOAL MET" if median(ratios) >= target.goal else "GOAL NOT MET"
        each = " ".join(f"{ratio:.2f}" for ratio in ratios)
        print(
            f"{verdict:<13} {target.label}: {median(ratios):.2f} of {target.baseline} "
            f"(goal: {target.goal:.2f} or more; rounds: {each})"
        )


def print_settings(
    settings: ServerSettings,
    servers: list[Server],
    targets: list[Target],
    args: argparse.Namespace,
    busy: float,
) -> None:
    """Say what was measured and how, so that figures from different runs can be compared."""
    sizes = {t.path: len(t.body) for t in targets if t.status == 200 and t.baseline}
    connections = (
        "keep-alive connections"
        if settings.worker_class != "sync"
        else "connections (sync workers close each one after a response: a new one per request)"
    )
    on = ", ".join(f"{server.name} on {HOST}:{server.port}" for server in servers)
    print(f"Servers: {settings.describe()} each: {on}")
    print(f"Load:    {args.connections} concurrent {connections}, from this process's threads")
    print(
        f"Rounds:  {args.rounds} rounds of {args.seconds:g} s per target, order rotating, each page next to "
        f"its baseline; {args.warmup:g} s warm-up per target"
    )
    print(
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}; bodies: "
        + ", ".join(f"{path} {size:,} bytes" for path, size in sizes.items())
    )
    if busy > 0.5:
        print(
            f"Warning: the machine was busy before the bench started (load average {busy:.1f}): "
            "requests/s will be noisy, server CPU per request less so."
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Two cores are shared by the server and this load generator. Two workers keep both cores busy
    # while the generator waits on the network. Sync is gunicorn's default and what runs behind a
    # buffering proxy: it closes every connection, so each request also pays for a new one, for the
    # real pages and the baseline alike. ``--worker-class gthread`` measures with keep-alive instead.
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (default sync)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker (default 1)")
    # Two per worker: each worker always finds the next connection waiting.
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections (default 4)")
    parser.add_argument("--seconds", type=float, default=1.5, help="per target per round (default 1.5)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over all targets (default 5)")
    parser.add_argument("--warmup", type=float, default=0.5, help="warm-up per target (default 0.5)")
    parser.add_argument(
        "--versions", type=int, default=VERSIONS, help=f"versions of the list's history (default {VERSIONS})"
    )
    args = parser.parse_args(argv)
    settings = ServerSettings(args.workers, args.worker_class, args.threads)

    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as tmp:
        folder = Path(tmp)
        try:
            print(
                f"Preparing a migrated SQLite database with a list of {ENTRIES} entries and "
                f"{args.versions} versions in {folder}"
            )
            prepared = time.monotonic()
            env = prepare_instance(folder, args.versions)
            print(f"  prepared in {time.monotonic() - prepared:.0f} s", flush=True)
            with serve(settings, env, folder, "real", "bench.app:create_bench_app()", "/processors") as real:
                captured = capture(real, args.versions)
                base_env = {**env, "BENCH_BASELINE_FILE": str(write_baseline(captured, folder))}
                factory = "bench.baseline:create_baseline_app()"
                with serve(settings, base_env, folder, "baseline", factory, captured[0].path) as base:
                    targets = build_targets(captured, real, base)
                    print_settings(settings, [real, base], targets, args, busy)
                    samples = measure(targets, args)
                    memory = {server.name: worker_memory_mib(server.master) for server in (real, base)}
        except BenchError as error:
            print(f"BENCH FAILED: {error}", file=sys.stderr)
            return 1
    print()
    print("First request of each path (cold: rendered by the worker that took it):")
    for answer in captured:
        print(f"  {answer.first_seconds * 1000:>9.1f} ms  {len(answer.body):>10,} bytes  {answer.path}")
    print()
    for name, sizes in memory.items():
        shown = ", ".join(f"{size:.0f} MiB" for size in sizes) or "n/a"
        print(f"Worker memory after the run, {name}: {shown}")
    report(targets, samples)
    print(f"\nTook {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
