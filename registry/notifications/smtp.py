"""Flask-Mail with a timeout on every SMTP connection.

Flask-Mail opens ``smtplib.SMTP(host, port)`` with no timeout, so a server that accepts the
connection and never answers would hang the sender forever and every later run behind it.
"""

from __future__ import annotations

import smtplib

from flask import current_app
from flask_mail import Connection, Mail


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
