"""Request logs without the secrets that links carry in their paths.

A link emailed to a subscriber is its own credential (``/unsubscribe/<token>``,
``/subscription/<token>``, ...): a log line holding it would hand that power to whoever reads the
logs. Every log the app controls, werkzeug's request log under ``flask run`` and gunicorn's
access and error logs, passes through one filter that rewrites such paths to
``/unsubscribe/<redacted>``, wherever they appear in the line (the request, the Referer). The
paths are read from the URL map: every route with a ``<token>`` part is covered, now and later.

A server decodes the path before routing, so ``/unsub%73cribe/<token>`` or
``/unsubscribe%2F<token>`` reaches the same view while its log line holds the path as sent: each
character of a prefix is matched as itself or as its percent-encoding, in either case, and a
slash also as several (the router redirects ``/unsubscribe//<token>`` to the single-slash path).
"""

from __future__ import annotations

import logging
import re

from flask import Flask

REDACTED = "<redacted>"
# The loggers of the servers the app runs under; the app's own logger is added per app.
SERVER_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


class TokenPathFilter(logging.Filter):
    """Rewrites every path that holds a link's token; lets every record through."""

    def __init__(self) -> None:
        super().__init__("registry.access_logs")
        self._prefixes: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def cover(self, prefixes: set[str]) -> None:
        """Redact what follows each of these path prefixes (e.g. ``/unsubscribe/``)."""
        if prefixes <= self._prefixes:
            return
        self._prefixes |= prefixes
        # Longest first: "/subscription/address/" is tried before "/subscription/".
        alternatives = "|".join(_spelled_any_way(p) for p in sorted(self._prefixes, key=len, reverse=True))
        self._pattern = re.compile(rf"({alternatives})[^/\s?#\"'<>]+", re.IGNORECASE)

    def redact(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(rf"\g<1>{REDACTED}", text)

    def holds_token(self, path: str) -> bool:
        """Whether ``path`` (as sent, or decoded) carries a link's token."""
        return self._pattern is not None and self._pattern.search(path) is not None

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            return True  # a record that cannot be formatted is the logging module's to report
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def _spelled_any_way(prefix: str) -> str:
    """A pattern for ``prefix`` with each character as itself or percent-encoded (``s``, ``%73``),
    and each slash as a run of them: the router merges ``/unsubscribe//<token>`` into the real
    path and redirects there, so that request too is logged with the token."""
    return "".join("(?:/|%2f)+" if c == "/" else f"(?:{re.escape(c)}|%{ord(c):02x})" for c in prefix)


# One filter for the process: loggers are global, and tests build many apps.
FILTER = TokenPathFilter()


def token_prefixes(app: Flask) -> set[str]:
    """The path before ``<token>`` of every route that takes one."""
    return {
        rule.rule.split("<token>", 1)[0] for rule in app.url_map.iter_rules() if "token" in rule.arguments
    }


def register(app: Flask) -> None:
    """Redact token paths in the server's request logs and the app's own log."""
    FILTER.cover(token_prefixes(app))
    for name in SERVER_LOGGERS:
        logging.getLogger(name).addFilter(FILTER)
    app.logger.addFilter(FILTER)
