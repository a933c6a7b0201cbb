"""Flask-Mail with a timeout on every SMTP connection, and messages that serialise cleanly.

Flask-Mail opens ``smtplib.SMTP(host, port)`` with no timeout, so a server that accepts the
connection and never answers would hang the sender forever and every later run behind it.
"""

from __future__ import annotations

import binascii
import contextlib
import smtplib
import socket
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
from typing import Any, TypeVar

from flask import current_app
from flask_mail import BadHeaderError, Connection, Mail, Message, sanitize_address

T = TypeVar("T")


class UnsendableMessage(ValueError):
    """This message cannot be put on the wire at all (an address SMTP cannot carry, say);
    trying again will not help, and the connection is untouched."""


class NotConnected(smtplib.SMTPServerDisconnected):
    """The connection was already closed (a 421, or a reply that never came): nothing of this
    message went out, so it is not charged; the sender connects again."""


class OutcomeUnknown(smtplib.SMTPServerDisconnected):
    """The whole message went out, but the reply to its end never came (a timeout, a dropped
    connection): the server may have accepted it or not, and nobody here can tell which."""


class TimeoutConnection(Connection):
    # The envelope of the next message, sent with the last one's end (``send``'s ``following``).
    _pending: _Envelope | None = None

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        timeout = current_app.config["MAIL_TIMEOUT"]
        host: smtplib.SMTP | smtplib.SMTP_SSL
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=timeout)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        if host.sock is not None:
            # Every write is a whole unit (an envelope, a content, its end): sent at once. Nagle's
            # algorithm would hold the short end of a message back until the server acknowledged
            # the content, which it does only after a delayed-ACK pause (40 ms on Linux).
            host.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host

    def send(
        self,
        message: Message,
        envelope_from: str | tuple[str, str] | None = None,
        *,
        while_envelope: Callable[[], None] | None = None,
        before_content: Callable[[], None] | None = None,
        before_end: Callable[[], None] | None = None,
        while_content: Callable[[], None] | None = None,
        end_ready: Callable[[], bool] | None = None,
        following: Callable[[], Message | None] | None = None,
    ) -> None:
        """Send one message as ``smtplib.SMTP.sendmail`` does, doing the caller's work meanwhile.

        ``while_envelope`` runs while the server considers MAIL FROM, ``before_content`` right
        before the first byte of the content goes out (after the server said 354), ``before_end``
        after the content and right before the lone dot that ends it, and ``while_content`` while
        the server considers the message: the sender starts recording the previous message, makes
        sure it is recorded, and builds the next one then, instead of leaving the server idle
        (``bench/fanout.py``). A server accepts nothing before that dot (RFC 5321 3.8: a connection
        closed before it cancels the transaction, as RSET would), so waiting for the record there
        keeps "at most one message accepted and not recorded" while the content travels. If
        ``before_end`` raises, the connection is dropped without the dot: the message is not
        delivered. ``end_ready`` says, once the server has said 354, whether ``before_end`` would
        return at once: then the content and its end go out in one write (one system call, and
        one wake-up of the server, fewer). ``following``, asked right before the end, names the
        message to be sent next, if any: to a server that offers PIPELINING its envelope goes
        out with this one's end, and its replies come after this one's, so a message costs one
        round trip, not two; the next ``send`` must be of that message (it reads those replies),
        and a connection left with it is closed without QUIT. Flask-Mail's own send would also
        re-parse every address of every message.
        """
        if message.has_bad_headers():
            raise BadHeaderError
        if self.host is None:  # MAIL_SUPPRESS_SEND
            for work in (while_envelope, before_content, before_end, while_content):
                if work is not None:
                    work()
            return
        host = self.host
        pending, self._pending = self._pending, None
        if host.sock is None:
            raise NotConnected("the connection was closed before this message")
        if pending is not None and pending.message is not message:
            # An envelope went out for a message that is not the one sent now: never done.
            host.close()
            raise NotConnected("the envelope sent ahead was for another message")
        if pending is not None:
            # Its envelope went out with the last message's end: its replies follow that one's.
            envelope = pending
            if while_envelope is not None:
                while_envelope()
            _envelope_replies(host, envelope)
        else:
            envelope = _Envelope.of(host, message, envelope_from)
            if envelope.pipelined:
                host.send(envelope.commands)
                if while_envelope is not None:
                    while_envelope()
                _envelope_replies(host, envelope)
            else:
                _envelope_in_turn(host, envelope, while_envelope)
        if before_content is not None:
            before_content()
        stuffed = _dot_stuffed(envelope.content)
        end = _END
        if envelope.pipelined and following is not None and (ahead := _ahead(host, following)):
            # RFC 2920: a content may begin a group of commands; the next message's MAIL
            # FROM, RCPT TO and DATA go with this one's end, and their replies follow its.
            end += ahead.commands.encode("ascii")
            self._pending = ahead
        if before_end is None:
            host.send(stuffed + end)
        elif end_ready is not None and self._before_end(host, end_ready):
            self._before_end(host, before_end)
            host.send(stuffed + end)
        else:
            host.send(stuffed)  # all but the end: the server cannot accept it yet
            self._before_end(host, before_end)
            host.send(end)
        if while_content is not None:
            while_content()
        try:
            code, reply = host.getreply()
        except smtplib.SMTPServerDisconnected as error:  # smtplib has closed the connection
            self._pending = None
            raise OutcomeUnknown(f"no reply to the end of the message ({error})") from error
        if code != 250:
            if code == 421 or self._pending is None:
                self._pending = None
                _abandon(host, code)
            # Else the transaction is over all the same (a reply to its end is final), and the
            # next message's envelope is already being answered: no RSET in between.
            raise smtplib.SMTPDataError(code, reply)

    def _before_end(self, host: smtplib.SMTP, before_end: Callable[[], T]) -> T:
        """``before_end()``, with the server waiting for content: if it raises, the connection
        is dropped (a QUIT would be taken for content)."""
        try:
            return before_end()
        except BaseException:
            self._pending = None
            host.close()  # without the dot: the server discards what it has
            raise

    def __exit__(self, *exc_info: Any) -> None:
        if self.host is not None and (self._pending is not None or self.host.sock is None):
            # The server waits for the content of an envelope sent ahead: a QUIT would be taken
            # for it. Closing instead ends that transaction unfinished (RFC 5321 3.8). (A
            # connection closed already, when a message was cut short, has nobody to QUIT.)
            self._pending = None
            self.host.close()
            return
        super().__exit__(*exc_info)


@dataclass
class _Envelope:
    """A message ready for the wire: its bytes, and the commands of its envelope."""

    message: Message
    content: bytes
    sender: str
    recipients: list[str]
    mail: str
    rcpts: list[str]
    pipelined: bool

    @classmethod
    def of(
        cls, host: smtplib.SMTP, message: Message, envelope_from: str | tuple[str, str] | None
    ) -> _Envelope:
        """Everything that can fail for this message alone, before a byte of it goes out."""
        try:
            content = message.as_bytes()
            sender = _envelope(envelope_from or message.sender)
            recipients = [_envelope(address) for address in message.send_to]
        except (ValueError, UnicodeError) as error:
            raise UnsendableMessage(f"{type(error).__name__}: {error}") from error
        host.ehlo_or_helo_if_needed()
        options = list(message.mail_options)
        if host.does_esmtp and host.has_extn("size"):
            options.append(f"size={len(content)}")
        option_list = " " + " ".join(options) if options and host.does_esmtp else ""
        rcpt_options = (
            " " + " ".join(message.rcpt_options) if message.rcpt_options and host.does_esmtp else ""
        )
        # The addresses are bare already (``_envelope``): smtplib's quoteaddr would parse each
        # one again, a tenth of the cost of a message.
        mail = f"MAIL FROM:<{sender}>{option_list}"
        rcpts = [f"RCPT TO:<{recipient}>{rcpt_options}" for recipient in recipients]
        pipelined = bool(host.does_esmtp and host.has_extn("pipelining"))
        return cls(message, content, sender, recipients, mail, rcpts, pipelined)

    @property
    def commands(self) -> str:
        """MAIL FROM, every RCPT TO and DATA, in one write (RFC 2920)."""
        return "".join(f"{command}\r\n" for command in (self.mail, *self.rcpts, "DATA"))


def _ahead(host: smtplib.SMTP, following: Callable[[], Message | None]) -> _Envelope | None:
    """The envelope of the message to send next, to go with this one's end; None if there is
    none, or if it cannot be made. This one's content is on the wire already and must end
    whatever is wrong with the next (a line break in a header, any error in serialising it): the
    next one fails on its own turn, with nothing of it sent."""
    try:
        after = following()
        if after is None or after.has_bad_headers():
            return None
        return _Envelope.of(host, after, None)
    except Exception:
        return None


def _envelope_in_turn(
    host: smtplib.SMTP, envelope: _Envelope, while_envelope: Callable[[], None] | None
) -> None:
    """MAIL FROM, each RCPT TO and DATA, each waiting for its reply, up to the server's 354."""
    mail, rcpts, sender, recipients = envelope.mail, envelope.rcpts, envelope.sender, envelope.recipients
    host.send(f"{mail}\r\n")
    if while_envelope is not None:
        while_envelope()
    code, reply = host.getreply()
    if code != 250:
        _abandon(host, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for recipient, rcpt in zip(recipients, rcpts, strict=True):
        host.send(f"{rcpt}\r\n")
        code, reply = host.getreply()
        if code not in (250, 251):
            refused[recipient] = (code, reply)
        if code == 421:
            host.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(recipients):
        _abandon(host, 0)
        raise smtplib.SMTPRecipientsRefused(refused)
    host.send("DATA\r\n")
    code, reply = host.getreply()
    if code != 354:
        _abandon(host, code)
        raise smtplib.SMTPDataError(code, reply)


def _envelope_replies(host: smtplib.SMTP, envelope: _Envelope) -> None:
    """The replies to an envelope sent in one write (``_Envelope.commands``, RFC 2920, for a
    server that offers PIPELINING), read in order, up to the server's 354: the same outcomes as
    ``_envelope_in_turn``. A 421 ends the connection at once; whatever was refused is raised as
    in turn."""
    sender, recipients = envelope.sender, envelope.recipients

    def reply() -> tuple[int, bytes]:
        code, text = host.getreply()
        if code == 421:  # the server is leaving: nothing more will be answered
            host.close()
        return code, text

    mail_code, mail_reply = reply()
    if mail_code == 421:
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
    refused = {}
    for recipient in recipients:
        code, text = reply()
        if code not in (250, 251):
            refused[recipient] = (code, text)
        if code == 421:
            raise smtplib.SMTPRecipientsRefused(refused)
    data_code, data_reply = reply()
    if data_code == 421:
        raise smtplib.SMTPDataError(data_code, data_reply)
    failed = mail_code != 250 or len(refused) == len(recipients)
    if failed and data_code == 354:
        # A server that said yes to DATA with nobody to deliver to: end the empty message.
        host.send(".\r\n")
        host.getreply()
    if mail_code != 250:
        _abandon(host, mail_code)
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
    if len(refused) == len(recipients):
        _abandon(host, 0)
        raise smtplib.SMTPRecipientsRefused(refused)
    if data_code != 354:
        _abandon(host, data_code)
        raise smtplib.SMTPDataError(data_code, data_reply)


_END = b".\r\n"  # the lone dot that ends a message's content


def _dot_stuffed(content: bytes) -> bytes:
    """The message as the DATA command carries it (RFC 5321 4.5.2), up to its end (``_END``).

    A dot that begins a line is doubled: after every line feed, and at the very start. (A plain
    ``replace`` finds them ten times faster than a multi-line regular expression.)"""
    stuffed = content.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed


def _abandon(host: smtplib.SMTP, code: int) -> None:
    """End a refused transaction: close after 421 (the server is leaving), else reset."""
    if code == 421:
        host.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        host.rset()


def _envelope(address: str | tuple[str, str]) -> str:
    """The bare address for the SMTP envelope (addresses are validated when they are stored)."""
    if isinstance(address, str) and address.isascii() and "<" not in address:
        return address
    return _sanitised(address)


@lru_cache(maxsize=256)
def _sanitised(address: str | tuple[str, str]) -> str:
    # Typically the sender, "Example Cloud Ltd <privacy@example.com>": the same every message,
    # and only its address goes into the envelope.
    return parseaddr(sanitize_address(address))[1]


class TimeoutMail(Mail):
    def connect(self) -> TimeoutConnection:
        return TimeoutConnection(current_app.extensions["mail"])


def quoted_printable(text: str) -> bytes:
    """A text part's body as sent: UTF-8, quoted-printable, CRLF line ends (7-bit safe)."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


class EncodedText:
    """A text part's body, encoded once for every message it goes out in, except the lines
    that hold a placeholder (a subscriber's own links), which each message fills and encodes.

    Quoted-printable encodes a text line by line (soft line breaks, trailing spaces and a line's
    leading dot depend on that line only), so encoding the fixed lines once and the filled
    lines per message gives the very bytes that encoding the filled text whole gives
    (tests/notifications/test_composing.py checks it). A text with a carriage return is encoded
    whole every time: there the encoder looks beyond the line.
    """

    def __init__(self, text: str, placeholders: Collection[str] = ()):
        self.text = text
        placeholders = tuple(p for p in placeholders if p in text)
        if not placeholders:
            # (fixed text, its encoding), or (a line to fill, None)
            self.chunks: list[tuple[str, bytes | None]] = [(text, quoted_printable(text))]
        elif "\r" in text:
            self.chunks = [(text, None)]
        else:
            self.chunks = []
            lines = [line + "\n" for line in text.split("\n")]
            lines[-1] = lines[-1][:-1]  # the last one had no line feed
            fixed: list[str] = []
            for line in lines:
                if any(p in line for p in placeholders):
                    if fixed:
                        self.chunks.append(("".join(fixed), quoted_printable("".join(fixed))))
                        fixed = []
                    self.chunks.append((line, None))
                else:
                    fixed.append(line)
            if any(fixed):
                self.chunks.append(("".join(fixed), quoted_printable("".join(fixed))))
        self.placeholders = placeholders

    def fill(self, values: Mapping[str, str]) -> tuple[str, bytes]:
        """The text with each placeholder replaced by its value in ``values``, and its encoding."""
        texts, encoded = [], []
        for text, done in self.chunks:
            if done is None:
                for placeholder in self.placeholders:
                    text = text.replace(placeholder, values[placeholder])
                done = quoted_printable(text)
            texts.append(text)
            encoded.append(done)
        return "".join(texts), b"".join(encoded)


class OutgoingMessage(Message):
    """A Flask-Mail message with a fast, standards-conforming serialisation.

    Flask-Mail serialises through the standard library's legacy (compat32) API, which encodes a
    long ``List-Unsubscribe`` URL into RFC 2047 words no mail client reads as a URL; the modern
    API gets headers right but costs milliseconds per message, which caps a sender at a few
    hundred messages per second (``bench/fanout.py``). Our messages have one fixed shape, text
    and HTML alternatives, so they are written directly: headers as given (ASCII, or RFC 2047
    encoded when not), UTC dates, bodies quoted-printable (7-bit safe for any server).
    """

    def __init__(
        self,
        *,
        subject: str,
        recipients: list[str],
        body: str,
        html: str,
        sender: str,
        message_id: str,
        extra_headers: dict[str, str] | None = None,
        encoded: tuple[bytes, bytes] | None = None,
    ):
        """``encoded``: ``body`` and ``html`` as ``quoted_printable`` encodes them, if the caller
        has them already (``EncodedText``)."""
        # Flask-Mail's constructor would also make a random Message-ID, asking the resolver for
        # this host's name on every message; ours is deterministic.
        self.subject = subject
        self.recipients: list[str | tuple[str, str]] = list(recipients)
        self.sender = sender
        self.reply_to = None
        self.cc: list[str | tuple[str, str]] = []
        self.bcc: list[str | tuple[str, str]] = []
        self.body = body
        self.alts: dict[str, str] = {}
        self.html = html
        self.date = time.time()
        self.msgId = message_id
        self.charset = None
        self.extra_headers = extra_headers
        self.mail_options: list[str] = []
        self.rcpt_options: list[str] = []
        self.attachments: list[Any] = []
        self.encoded = encoded

    def as_bytes(self) -> bytes:
        # "=_" never occurs in quoted-printable text (an "=" there is followed by two hex digits
        # or a line end), and both parts are quoted-printable: no body can hold this line, so
        # it need not be random (a random one cost a system call per message).
        boundary = _BOUNDARY
        headers = {
            "From": _address_header(str(self.sender)),
            "To": ", ".join(str(r) for r in self.recipients),
            "Subject": self.subject or "",
            "Date": _date_header(int(time.time() if self.date is None else self.date)),
            "Message-ID": self.msgId,
            "MIME-Version": "1.0",
            **(self.extra_headers or {}),
            "Content-Type": f'multipart/alternative; boundary="{boundary}"',
        }
        lines = [_header(name, value) for name, value in headers.items()]
        lines.append("")
        text, html = self.encoded or (quoted_printable(self.body or ""), quoted_printable(self.html or ""))
        out = ["\r\n".join(lines).encode("ascii")]  # the headers, and the empty line after them
        for subtype, content in ((b"plain", text), (b"html", html)):
            out += [
                b"\r\n--" + boundary.encode("ascii") + b"\r\n",
                b"Content-Type: text/" + subtype + b'; charset="utf-8"\r\n',
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                content,
            ]
        out.append(b"\r\n--" + boundary.encode("ascii") + b"--\r\n")
        return b"".join(out)

    def as_string(self) -> str:
        return self.as_bytes().decode("ascii")


_BOUNDARY = "=_registry-alternative"


@lru_cache(maxsize=4)
def _date_header(second: int) -> str:
    # The same for every message of a second: a sender writes hundreds in one.
    return formatdate(second, usegmt=True)


@lru_cache(maxsize=64)
def _address_header(address: str) -> str:
    return formataddr(parseaddr(address), charset="utf-8")


def _header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise BadHeaderError(f"line break in the {name} header")
    if value.isascii() and len(name) + len(value) < 990:
        return f"{name}: {value}"
    # RFC 2047 words, folded: for a subject naming "Müller GmbH", for example.
    return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
