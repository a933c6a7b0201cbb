"""The receiver the README shows, run as written: it accepts what the registry posts, signed
with the endpoint's secret, and refuses a forged signature."""

from __future__ import annotations

import re
import threading
import urllib.request
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from registry.extensions import db
from registry.webhooks.jobs import deliver_webhooks
from registry.webhooks.models import WebhookDelivery, WebhookDeliveryStatus
from tests.conftest import Registry
from tests.webhooks.conftest import announce_acme, register
from tests.webhooks.receiver import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_receiver(secret: str) -> Any:
    section = README.read_text(encoding="utf-8").split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    lines = [line.removeprefix("  ") for line in code.splitlines() if line.strip()]
    assert len(lines) == 5
    namespace: dict[str, Any] = {"__name__": "__main__"}  # Flask(__name__) finds a root path
    exec("\n".join(lines).replace("whsec_...", secret), namespace)  # our own README
    return namespace["app"]


def test_the_readme_receiver_verifies_what_the_registry_posts(
    app: Flask, published: Registry, tmp_path: Path
) -> None:
    port = free_port()
    _, secret = register(app, f"http://127.0.0.1:{port}/hooks")
    server = make_server("127.0.0.1", port, _readme_receiver(secret))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        announce_acme(published)
        with app.app_context():
            deliver_webhooks()
            (row,) = db.session.scalars(db.select(WebhookDelivery)).all()
            assert (row.status, row.last_status_code) == (WebhookDeliveryStatus.SENT, 200)
            forged = urllib.request.Request(
                f"http://127.0.0.1:{port}/hooks",
                data=row.body.encode(),
                headers={
                    "webhook-id": row.message_id,
                    "webhook-timestamp": "1",
                    "webhook-signature": "v1,AAAA",
                    "Content-Type": "application/json",
                },
            )
        try:
            urllib.request.urlopen(forged, timeout=5)  # loopback, built here
            status = 200
        except urllib.error.HTTPError as error:
            status = error.code
        assert status == 500
    finally:
        server.shutdown()
