"""A real HTTP receiver on loopback that checks every signature with ``standardwebhooks``.

Each request is answered by the next step of its plan (then ``ok`` for ever): ``ok`` (204),
a status code, ``drop`` (the connection closed without an answer), ``hold`` (no answer until
released), or ``("redirect", url)``. Every request is recorded with its webhook-id, body and
whether its signature verified.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    message_id: str
    headers: dict[str, str]
    body: str
    verified: bool
    answered: Any
    path: str = ""

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Receiver:
    def __init__(self, port: int | None = None, tls: ssl.SSLContext | None = None):
        self.port = port or free_port()
        self.tls = tls
        self.secret: str | None = None
        self.plan: list[Any] = []
        self.received: list[Received] = []
        self.delay = 0.0
        self.holding = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:  # http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8")
                headers = {name.lower(): value for name, value in self.headers.items()}
                verified = False
                if receiver.secret is not None:
                    try:
                        Webhook(receiver.secret).verify(body, headers)
                        verified = True
                    except WebhookVerificationError:
                        verified = False
                with receiver._lock:
                    step = receiver.plan.pop(0) if receiver.plan else "ok"
                    receiver.received.append(
                        Received(headers.get("webhook-id", ""), headers, body, verified, step, self.path)
                    )
                if receiver.delay:
                    time.sleep(receiver.delay)
                if step == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if step == "hold":
                    receiver.holding.set()
                    receiver.released.wait(30)
                    self.close_connection = True
                    return
                if isinstance(step, tuple) and step[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", step[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 204 if step == "ok" else int(step)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> list[str]:
        return [r.message_id for r in self.received]

    def accepted(self) -> list[Received]:
        """What was answered 2xx."""
        return [
            r
            for r in self.received
            if r.answered == "ok" or (isinstance(r.answered, int) and r.answered < 300)
        ]
