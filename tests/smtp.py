"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and can misbehave on cue."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Mailbox:
    """The aiosmtpd handler: records messages; refuses or stalls when told to."""

    messages: list[EmailMessage] = field(default_factory=list)
    # Recipients refused with 550 (permanent) or 451 (temporary) at RCPT TO.
    refuse_permanently: set[str] = field(default_factory=set)
    refuse_temporarily: set[str] = field(default_factory=set)
    # Refusals quote the recipient, as Postfix's do ("550 5.1.1 <ada@example.com>: ...").
    quote_refused: bool = False
    # Drop the connection when the client says QUIT, after accepting everything before it.
    break_at_quit: bool = False
    # Seconds to wait before acknowledging each message (a slow server).
    delay: float = 0.0
    # Recipients whose message is received in full and acknowledged only after this many seconds
    # (longer than the sender's timeout: it gives up, yet the server accepts the message).
    late_reply_to: set[str] = field(default_factory=set)
    late_by: float = 0.0
    # One entry per connection that is to break, in order: drop it at MAIL FROM once it has
    # carried that many messages (0: at its first MAIL FROM), without a reply.
    drop_after: list[int] = field(default_factory=list)
    # Recipients answered 421 at RCPT TO: the server is closing the connection.
    closing_at: set[str] = field(default_factory=set)
    # Recipients whose message is received in full and then refused with this reply to its end
    # ("554 5.7.1 ...", "451 ...", "421 ..."): the reply that ends a transaction.
    refuse_content_of: dict[str, str] = field(default_factory=dict)
    # After this many messages, hold the reply to the next DATA until released.
    hold_after: int | None = None
    released: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Offer PIPELINING (RFC 2920), as Postfix and most servers do; False: a server that does not.
    pipelining: bool = True
    # Envelopes whose RCPT TO had arrived already when MAIL FROM was read: sent in one write.
    pipelined: int = 0
    # Messages whose end came with the next message's MAIL FROM: sent in one write.
    ahead: int = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")  # before the last line, "250 HELP"
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if b"RCPT TO" in bytes(server._reader._buffer).upper():  # read already, not yet answered
            with self.lock:
                self.pipelined += 1
        carried = getattr(session, "carried", 0)
        with self.lock:
            drop = bool(self.drop_after) and carried >= self.drop_after[0]
            if drop:
                self.drop_after.pop(0)
        if drop:
            server.transport.close()  # the connection breaks: no reply at all
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.closing_at:
            return "421 4.3.2 Service shutting down, closing transmission channel"
        quoted = f"<{address}>: " if self.quote_refused else ""
        if address in self.refuse_permanently:
            return f"550 5.1.1 {quoted}No such user here"
        if address in self.refuse_temporarily:
            return f"451 4.3.0 {quoted}Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if b"MAIL FROM" in bytes(server._reader._buffer).upper():  # read already, not yet answered
            with self.lock:
                self.ahead += 1
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            count = len(self.messages)
        session.carried = getattr(session, "carried", 0) + 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if set(envelope.rcpt_tos) & self.late_reply_to:
            await asyncio.sleep(self.late_by)
        for recipient in envelope.rcpt_tos:
            if recipient in self.refuse_content_of:
                return self.refuse_content_of[recipient]
        if self.hold_after is not None and count > self.hold_after:
            # Received but not yet acknowledged: the sender is "in flight" on this message.
            self.holding.set()
            while not self.released.is_set():
                await asyncio.sleep(0.05)
        return "250 Message accepted"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        if self.break_at_quit:
            server.transport.close()
        return "221 Bye"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def recipients(self) -> list[str]:
        with self.lock:
            return [str(m["To"]) for m in self.messages]

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")


class SmtpServer:
    """Starts and stops an aiosmtpd server on a fixed loopback port (so it can be down, then up)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self.mailbox.released.set()
            self._controller.stop()
            self._controller = None

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port, "MAIL_TIMEOUT": 5.0, **extra}


@contextmanager
def silent_server() -> Iterator[int]:
    """A server that accepts connections and never says a word: the sender must time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()
