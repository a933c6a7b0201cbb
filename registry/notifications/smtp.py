"""Flask-Mail with a timeout on every SMTP connection, and messages that serialise cleanly.

Flask-Mail opens ``smtplib.SMTP(host, port)`` with no timeout, so a server that accepts the
connection and never answers would hang the sender forever and every later run behind it.
"""

from __future__ import annotations

import email.policy
import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from flask import current_app
from flask_mail import Connection, Mail, Message


class TimeoutConnection(Connection):
    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        timeout = current_app.config["MAIL_TIMEOUT"]
        host: smtplib.SMTP | smtplib.SMTP_SSL
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=timeout)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


class TimeoutMail(Mail):
    def connect(self) -> TimeoutConnection:
        return TimeoutConnection(current_app.extensions["mail"])


# Header lines may be up to 998 characters (RFC 5322). With the usual 78, the email package
# folds a long unsubscribe URL by encoding it as RFC 2047 words, which no mail client reads as
# a URL; at 998 our headers are never folded.
POLICY = email.policy.SMTP.clone(max_line_length=998)


class OutgoingMessage(Message):
    """A Flask-Mail message serialised with the standard library's modern email API.

    Flask-Mail's own serialisation (the legacy compat32 API) encodes long header values such as
    ``List-Unsubscribe`` into RFC 2047 words and dates in local time; this one keeps headers
    readable, dates in UTC, and bodies 7-bit safe (quoted-printable) for any server.
    """

    def as_bytes(self) -> bytes:
        message = EmailMessage(policy=POLICY)
        message["Subject"] = self.subject or ""
        message["From"] = str(self.sender)
        message["To"] = ", ".join(str(r) for r in self.recipients)
        message["Date"] = formatdate(self.date, usegmt=True)
        message["Message-ID"] = self.msgId
        for name, value in (self.extra_headers or {}).items():
            message[name] = value
        message.set_content(self.body or "", cte="quoted-printable")
        if self.html:
            message.add_alternative(self.html, subtype="html", cte="quoted-printable")
        return message.as_bytes()

    def as_string(self) -> str:
        return self.as_bytes().decode("ascii", errors="replace")
