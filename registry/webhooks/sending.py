"""Posting one signed event over HTTP(S), to the address that was checked.

The host is resolved and every address checked (``addresses.check``) just before the post, and
the connection goes to one of those checked addresses (the first that answers): the name is not resolved again, so DNS rebinding
cannot move it to an internal address between the check and the connection. TLS still verifies
the certificate against the host name. Redirects are never followed (a 3xx is a failure whose
error names the place it pointed to), as the place could be anywhere. Connect and read have
their own time-outs, and the whole answer must come within the read time-out: a receiver that
trickles it a byte at a time is cut off then, rather than holding the sender until its lease
ends. Standard library only: ``http.client``.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from registry.webhooks.addresses import RefusedAddress, Target, check

USER_AGENT = "ProcessorRegistry-Webhooks/1"
# Enough of an answer to show an admin what the receiver said; the rest is not read.
MAX_ANSWER = 300


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: ``ok`` for a 2xx, else why not; ``status`` if it answered."""

    ok: bool
    status: int | None = None
    error: str | None = None
    # The endpoint says it is gone for good (410): it is disabled.
    gone: bool = False


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a checked address, with the URL's host in the Host header."""

    def __init__(self, target: Target, *, connect_timeout: float, read_timeout: float):
        super().__init__(target.host, target.port, timeout=read_timeout)
        self.target, self.connect_timeout, self.read_timeout = target, connect_timeout, read_timeout

    def _open(self) -> socket.socket:
        """A socket to the first of the checked addresses that answers (never a fresh lookup)."""
        failure: OSError | None = None
        for address in self.target.addresses:
            try:
                sock = socket.create_connection((address, self.target.port), timeout=self.connect_timeout)
            except OSError as error:
                failure = error
                continue
            sock.settimeout(self.read_timeout)
            return sock
        assert failure is not None  # check() returns at least one address
        raise failure

    def connect(self) -> None:
        self.sock = self._open()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """The same over TLS, the certificate checked against the URL's host name."""

    def connect(self) -> None:
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self._open(), server_hostname=self.target.host)


def _cut_off(connection: http.client.HTTPConnection, cut_off: threading.Event) -> None:
    """End a connection whose answer takes too long: the sender's read fails at once."""
    cut_off.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def signed_headers(secret: str, message_id: str, body: str, *, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed with the endpoint's secret."""
    signature = Webhook(secret).sign(message_id, at, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def post(
    url: str,
    secret: str,
    message_id: str,
    body: str,
    *,
    at: datetime,
    allow_private: bool,
    connect_timeout: float,
    read_timeout: float,
) -> Outcome:
    """One attempt: check the URL's addresses, connect to the checked one, post, read the status."""
    try:
        target = check(url, allow_private=allow_private)
    except RefusedAddress as error:
        return Outcome(False, error=f"refused: {error}")
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = cls(target, connect_timeout=connect_timeout, read_timeout=read_timeout)
    data = body.encode("utf-8")
    headers = {
        **signed_headers(secret, message_id, body, at=at),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    # Each receive has its own time-out; this one bounds the whole answer.
    cut_off = threading.Event()
    watchdog = threading.Timer(read_timeout, _cut_off, (connection, cut_off))
    watchdog.daemon = True
    try:
        connection.request("POST", target.path, body=data, headers=headers)
        watchdog.start()
        response = connection.getresponse()
        answer = response.read(MAX_ANSWER)
    except (OSError, http.client.HTTPException) as error:
        if cut_off.is_set():
            return Outcome(False, error=f"no whole answer within {read_timeout:g} s")
        what = type(error).__name__
        return Outcome(False, error=f"{what}: {error}" if str(error) else what)
    finally:
        watchdog.cancel()
        connection.close()
    status = response.status
    if 200 <= status < 300:
        return Outcome(True, status=status)
    reason = f"HTTP {status} {response.reason}".strip()
    if 300 <= status < 400:
        location = (response.getheader("Location") or "")[:300]
        return Outcome(False, status=status, error=f"{reason}: redirect to {location!r} not followed")
    said = answer.decode("utf-8", errors="replace").strip()
    text = f"{reason}: {said[:MAX_ANSWER]}" if said else reason
    return Outcome(False, status=status, error=text, gone=status == 410)
