"""Where messages go: an SMTP server through Flask-Mail, or ``.eml`` files for local use.

Both open one connection per batch and send message by message, so the delivery loop is the
same whichever is configured.
"""

from __future__ import annotations

import logging
import os
import smtplib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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
        while_content: Callable[[], None] | None = None,
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
                connection.__exit__(None, None, None)  # type: ignore[arg-type]
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
        while_content: Callable[[], None] | None = None,
    ) -> None:
        for work in (while_envelope, while_content):
            if work is not None:
                work()
        name = message.msgId.strip("<>").replace("@", "_at_").replace("/", "_")
        path = os.path.join(self.folder, f"{name}.eml")
        partial = f"{path}.partial"
        with open(partial, "wb") as file:
            file.write(message.as_bytes())
        os.replace(partial, path)  # a reader never sees half a message
        log.info("email saved as %s: %s", path, message.subject)


def configured_sender() -> SmtpSender | FileSender:
    config = current_app.config
    if config["MAIL_SERVER"]:
        return SmtpSender()
    return FileSender(config["MAIL_FOLDER"] or os.path.join(current_app.instance_path, "mail"))
