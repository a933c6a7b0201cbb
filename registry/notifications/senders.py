"""Where messages go: an SMTP server through Flask-Mail, or ``.eml`` files for local use.

Both open one connection per batch and send message by message, so the delivery loop is the
same whichever is configured.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Protocol

from flask import current_app
from flask_mail import Message

from registry.extensions import mail

log = logging.getLogger(__name__)


class Connection(Protocol):
    def send(
        self,
        message: Message,
        *,
        while_envelope: Callable[[], None] | None = None,
        before_content: Callable[[], None] | None = None,
        before_end: Callable[[], None] | None = None,
        while_content: Callable[[], None] | None = None,
        end_ready: Callable[[], bool] | None = None,
        following: Callable[[], Message | None] | None = None,
    ) -> None: ...


class Sender(Protocol):
    def connect(self) -> AbstractContextManager[Connection]: ...


class SmtpSender:
    """Flask-Mail over SMTP, with the timeout of ``MAIL_TIMEOUT`` on every connection."""

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        connection = mail.connect()
        host = connection.__enter__()
        try:
            yield host
        finally:
            try:
                connection.__exit__(None, None, None)
            except (smtplib.SMTPException, OSError) as error:
                # The messages already sent were accepted and recorded; an error at QUIT must
                # not make them look unsent.
                log.warning("SMTP connection did not close cleanly: %s", error)


class FileSender:
    """Writes each message as an ``.eml`` file a person can open, and logs it."""

    def __init__(self, folder: str):
        self.folder = folder

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        os.makedirs(self.folder, exist_ok=True)
        yield self

    def send(
        self,
        message: Message,
        *,
        while_envelope: Callable[[], None] | None = None,
        before_content: Callable[[], None] | None = None,
        before_end: Callable[[], None] | None = None,
        while_content: Callable[[], None] | None = None,
        end_ready: Callable[[], bool] | None = None,
        following: Callable[[], Message | None] | None = None,
    ) -> None:
        for work in (while_envelope, before_content, before_end, while_content):
            if work is not None:
                work()
        name = message.msgId.strip("<>").replace("@", "_at_").replace("/", "_")
        path = os.path.join(self.folder, f"{name}.eml")
        partial = f"{path}.partial"
        with open(partial, "wb") as file:
            file.write(message.as_bytes())
        os.replace(partial, path)  # a reader never sees half a message
        log.info("email saved as %s: %s", path, message.subject)

    def forget(self, addresses: Iterable[str], *, kinds: Collection[str] | None = None) -> int:
        """Delete every message file that went to, or names, one of ``addresses``; returns how
        many were deleted. With ``kinds``, only the messages of those notification kinds (read
        from the Message-ID): retention forgets an old request, not the rest of the mail of an
        address it does not erase.

        A file is named by its Message-ID, which says nothing of whom it went to, and no index of
        recipients is kept (it would be one more copy of the addresses): each file is read at
        erasure time and its To, Cc and Bcc headers and its text parts, decoded, are compared in
        any letter case, as whole addresses (erasing ada@example.com leaves nada@example.com's
        mail alone). That also finds the files written before erasures removed files, and
        half-written ones a crash left behind. Reading the folder costs about half a millisecond
        a file: it is a folder for trying the service, not a production mailbox.
        """
        needles = {address.strip().lower() for address in addresses if address and address.strip()}
        if not needles or not os.path.isdir(self.folder):
            return 0
        deleted = 0
        for entry in os.scandir(self.folder):
            if not entry.is_file() or not entry.name.endswith((".eml", ".eml.partial")):
                continue
            try:
                with open(entry.path, "rb") as file:
                    raw = file.read()
                if kinds is not None and _kind(raw) not in kinds:
                    continue
                if not _names_any(raw, needles):
                    continue
                os.remove(entry.path)
            except FileNotFoundError:  # another process removed it first
                continue
            except OSError as error:
                # The erasure is committed already: say which file stayed, and go on.
                log.warning("could not delete %s: %s", entry.path, error.strerror)
                continue
            deleted += 1
        return deleted


# The form of ``registry.notifications.emails.message_id``: <notification.<id>.<kind>@<domain>>.
_MESSAGE_ID = re.compile(r"<notification\.\d+\.([a-z_]+)@")


def _kind(raw: bytes) -> str | None:
    """The notification kind the message's Message-ID names, if any."""
    headers = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    match = _MESSAGE_ID.match(str(headers.get("Message-ID", "")).strip())
    return match.group(1) if match else None


def _names_any(raw: bytes, needles: set[str]) -> bool:
    """Whether the message in ``raw`` is addressed to, or its text mentions, one of ``needles``
    (lower case)."""
    pattern = _address_pattern(needles)
    if pattern.search(raw.lower()):
        return True  # as written: every header, and bodies sent as plain text
    # Bodies in base64 or quoted-printable (UTF-8 text is sent so) are compared decoded; the
    # compat32 policy parses without building header objects, ten times faster than the default.
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    recipients = [str(value) for name in ("to", "cc", "bcc") for value in message.get_all(name, [])]
    if any(address.lower() in needles for _, address in getaddresses(recipients)):
        return True
    for part in message.walk():
        if part.get_content_maintype() == "text":
            body = part.get_payload(decode=True)
            if isinstance(body, bytes) and pattern.search(body.lower()):
                return True
    return False


# What may stand right before an address's local part, or continue its domain: an address found
# next to one of these is a longer, other address (nada@example.com, ada@example.com.au).
_LOCAL_PART = rb"a-z0-9.!#$%&'*+/=?^_`{|}~-"
_DOMAIN = rb"a-z0-9-"


def _address_pattern(needles: set[str]) -> re.Pattern[bytes]:
    """Any of ``needles`` (lower case) as a whole address, not as part of a longer one; a full
    stop after it still counts (the end of a sentence), one followed by more domain does not."""
    alternatives = b"|".join(re.escape(needle.encode("utf-8", "replace")) for needle in needles)
    return re.compile(
        rb"(?<!["
        + _LOCAL_PART
        + rb"])(?:"
        + alternatives
        + rb")(?!["
        + _DOMAIN
        + rb"]|\.["
        + _DOMAIN
        + rb"])"
    )


def mail_folder() -> str:
    """Where ``FileSender`` writes, whether or not a mail server is configured now (the files of
    an earlier run without one may still be there)."""
    return str(current_app.config["MAIL_FOLDER"] or os.path.join(current_app.instance_path, "mail"))


def configured_sender() -> SmtpSender | FileSender:
    config = current_app.config
    if config["MAIL_SERVER"]:
        return SmtpSender()
    return FileSender(mail_folder())
