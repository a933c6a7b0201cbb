"""Benchmark: one notice fanned out to many webhook endpoints and posted to a loopback receiver.

Measures, with SQLite in a temporary folder: the announcement's transaction with N endpoints
registered (the fan-out writes N deliveries), then the delivery job posting them (resolve,
check, connect to the checked address, sign, post, record each result in its own commit),
against a baseline: a plain ``http.client`` loop posting N bodies of the same size, one
connection each, to the same receiver. Exits 0 whether or not it is fast (a measurement), non-zero
only when it could not measure (posts missing).
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()

    def log_message(self, *_args: Any) -> None:
        pass

    def do_POST(self) -> None:  # http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _Handler.lock:
            _Handler.count += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=500)
    args = parser.parse_args()

    from registry import create_app
    from registry.audit.services import SYSTEM
    from registry.database import upgrade_schema
    from registry.extensions import db
    from registry.lists import services as lists
    from registry.lists import workflow
    from registry.lists.models import ChangeAction
    from registry.timeutil import utcnow
    from registry.webhooks import services
    from registry.webhooks.jobs import deliver_webhooks
    from registry.webhooks.models import WebhookDelivery

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    n = args.endpoints
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite",
                "PUBLIC_BASE_URL": "https://registry.example",
                "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": True,
                "WEBHOOK_BATCH_SIZE": 100,
                "QUIET_LOGS": True,
            },
            instance_path=folder,
        )
        with app.app_context():
            upgrade_schema()
            now = utcnow()
            register_list = lists.create_list(
                db.session, slug="sub-processors", title="Sub-processors", now=now
            )
            fields = {
                "name": "Azure",
                "purpose": "Hosting.",
                "locations": ["DE"],
                "transfer_mechanism": "none",
            }
            first = workflow.draft_change(db.session, register_list, ChangeAction.ADD, fields=fields, now=now)
            workflow.publish_first_version(db.session, register_list, [first], reason="First.", now=now)
            for index in range(n):
                services.register(
                    db.session,
                    services.Registration(
                        url=f"http://127.0.0.1:{port}/hooks?n={index}", lists=("sub-processors",)
                    ),
                    actor=SYSTEM,
                    now=now,
                )
            db.session.commit()

            started = time.perf_counter()
            fields = {**fields, "name": "Acme Analytics", "locations": ["US"], "transfer_mechanism": "scc"}
            draft = workflow.draft_change(db.session, register_list, ChangeAction.ADD, fields=fields, now=now)
            workflow.announce(
                db.session,
                register_list,
                [draft],
                reason="Analytics.",
                effective_at=now + timedelta(days=40),
                now=now,
            )
            db.session.commit()
            fanout = time.perf_counter() - started

            body = db.session.scalars(db.select(WebhookDelivery.body).limit(1)).one()
            started = time.perf_counter()
            for _ in range(n):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request(
                    "POST", "/hooks", body=body.encode(), headers={"Content-Type": "application/json"}
                )
                connection.getresponse().read()
                connection.close()
            baseline = time.perf_counter() - started

            started = time.perf_counter()
            report = deliver_webhooks()
            delivery = time.perf_counter() - started
    server.shutdown()
    if report.sent != n or _Handler.count != 2 * n:
        print(f"could not measure: {report}, receiver got {_Handler.count} of {2 * n}", file=sys.stderr)
        return 1
    print(f"endpoints: {n}, body {len(body)} bytes")
    print(f"fan-out (the announcement's transaction): {fanout:.3f} s")
    print(f"baseline (plain http.client loop): {baseline:.3f} s, {n / baseline:.0f} posts/s")
    print(
        f"delivery job: {delivery:.3f} s, {n / delivery:.0f} posts/s, {baseline / delivery:.2f} of the baseline"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
