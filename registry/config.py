"""Default settings, and the layering that overrides them.

Order (later wins): these defaults, ``instance/config.py``, ``FLASK_``-prefixed environment
variables, then the mapping a test passes to ``create_app``.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar

from flask import Flask


class Defaults:
    """Settings that are safe everywhere; secrets deliberately have no value here."""

    SECRET_KEY: str | None = None
    # The SQLite file lives in the instance folder; ``create_app`` fills in the absolute path.
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {"pool_pre_ping": True}
    # PostgreSQL: the role that owns the tables, for ``init-db`` only (migrations, then the
    # grants to the app's role, the user of SQLALCHEMY_DATABASE_URI). Unset: the app's URL.
    DATABASE_OWNER_URL: str | None = None
    # SQLite: seconds a writer waits for another's write lock before the request answers 503.
    SQLITE_BUSY_TIMEOUT: float = 10.0
    # The list served at /processors.
    DEFAULT_LIST: str = "sub-processors"
    # Absolute base for links that leave the site (emails, feeds). Unset, it is where ``flask run``
    # serves: http://RUN_HOST:RUN_PORT (``make run`` passes its HOST and PORT as FLASK_RUN_HOST and
    # FLASK_RUN_PORT, which ``flask run`` reads too), so the links in the demo's emails open.
    PUBLIC_BASE_URL: str | None = None
    RUN_HOST: str = "127.0.0.1"
    RUN_PORT: int = 5000
    # Migrations and the scheduler's timer (alembic, APScheduler) log only warnings and errors:
    # ``make run`` sets it so its own few lines (the address, the demo users) stay in view.
    QUIET_LOGS: bool = False
    COMPANY_NAME: str = "Example Cloud Ltd"
    # Run the scheduler inside the web process (development only; production runs it alone).
    SCHEDULER_IN_PROCESS: bool = False
    # How often the scheduler looks for changes that have reached their effective date.
    APPLY_CHANGES_EVERY_SECONDS: int = 60
    # The PDF annex of a version with more entries than this is never laid out during a request
    # (about 2.5 s per 100 entries on a 2-core server): the reader gets a 503 until the scheduler
    # has made it.
    ANNEX_INLINE_MAX_ENTRIES: int = 200
    # How often the scheduler makes the missing annexes, newest versions first, and how many a run.
    ANNEX_PREPARE_EVERY_SECONDS: int = 60
    ANNEX_PREPARE_PER_RUN: int = 3
    # What the 503 for an annex still being prepared tells the reader to wait.
    ANNEX_RETRY_AFTER_SECONDS: int = 120
    # Entries of the per-process cache of rendered pages (keyed by list revision, so never stale).
    RENDER_CACHE_SIZE: int = 512
    # What names the code that renders pages, in the keys of stored answers; computed at start
    # from the templates and sources when empty (set only to test an invalidation).
    RENDER_REVISION: str = ""
    # Versions per page of the change log and of the versions page.
    HISTORY_PAGE_SIZE: int = 50
    # Seconds a process trusts its copy of a list's revision before asking the database again;
    # commits in the same process refresh it at once. Another worker's change shows within this.
    LIST_STAMP_TTL: float = 1.0
    # Answers each process keeps to send again, before Flask, while their stamps are trusted
    # (``registry/replay.py``); 0 turns the replay off.
    REPLAY_ANSWERS: int = 512
    # Browsers and proxies may reuse the current list this long before revalidating.
    CACHE_MAX_AGE: int = 300
    # Longest query string accepted, in bytes; longer ones are refused with 414.
    MAX_QUERY_STRING: int = 2048
    # Largest request body accepted (forms, API JSON, imports), in bytes; larger is refused with 413.
    MAX_CONTENT_LENGTH: int = 1024 * 1024

    # Session cookies: never readable by scripts, not sent on cross-site POSTs. Secure is derived
    # from PUBLIC_BASE_URL (https means Secure) unless set explicitly.
    SESSION_COOKIE_HTTPONLY: bool = True
    SESSION_COOKIE_SAMESITE: str = "Lax"
    SESSION_COOKIE_SECURE: bool | None = None
    REMEMBER_COOKIE_HTTPONLY: bool = True
    PERMANENT_SESSION_LIFETIME: int = 12 * 3600
    # A signed-in session ends after this long without a request, and this long after signing in
    # whatever happens; both checked on the server at every request (a cookie's own expiry is the
    # browser's to honour, and a copied cookie has none).
    SESSION_IDLE_MINUTES: int = 30
    SESSION_MAX_HOURS: int = 12
    # CSRF tokens last as long as a session, so a long form is not lost to an expired token.
    WTF_CSRF_TIME_LIMIT: int | None = None

    # Rate limits: storage shared by all workers in production, e.g. "redis://127.0.0.1:6379".
    RATELIMIT_STORAGE_URI: str = "memory://"
    RATELIMIT_HEADERS_ENABLED: bool = True
    SIGN_IN_LIMIT_PER_IP: str = "20 per 15 minutes"
    SIGN_IN_LIMIT_PER_ADDRESS: str = "5 per 15 minutes"
    # Codes tried for one account at the second-factor step, from any address or session.
    SECOND_FACTOR_LIMIT_PER_ACCOUNT: str = "5 per 15 minutes"
    SUBSCRIBE_LIMIT_PER_IP: str = "10 per hour"
    SUBSCRIBE_LIMIT_PER_ADDRESS: str = "3 per hour"
    OBJECTION_LIMIT_PER_IP: str = "10 per hour"
    OBJECTION_LIMIT_PER_ADDRESS: str = "5 per hour"

    # Subscriptions: a confirmation link (sign-up or a corrected address) works this long.
    CONFIRMATION_MAX_AGE_SECONDS: int = 2 * 86400
    # The manage link in an email's body opens the manage page this long after it was sent.
    MANAGE_LINK_MAX_AGE_DAYS: int = 30
    # A fresh link, emailed on request, also shows, corrects and erases the data; this long.
    FRESH_LINK_MAX_AGE_MINUTES: int = 60
    # Weekly digests go out on this weekday (0 is Monday) from this hour, UTC.
    DIGEST_WEEKDAY: int = 0
    DIGEST_HOUR: int = 8
    DIGESTS_EVERY_SECONDS: int = 900

    # Email. Without MAIL_SERVER, messages are written as .eml files to MAIL_FOLDER (default
    # instance/mail) and logged, so a person trying the service can read them.
    MAIL_SERVER: str | None = None
    MAIL_PORT: int = 25
    MAIL_USE_TLS: bool = False
    MAIL_USE_SSL: bool = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_DEFAULT_SENDER: str = "Example Cloud Ltd <privacy@example.com>"
    # Flask-Mail would silently not send while TESTING; the tests use a real SMTP server instead.
    MAIL_SUPPRESS_SEND: bool = False
    MAIL_FOLDER: str | None = None
    # Seconds any SMTP connect, command or reply may take before the attempt counts as failed.
    MAIL_TIMEOUT: float = 30.0
    # Where List-Unsubscribe's mailto points (a mailbox someone reads); empty: HTTPS link only.
    UNSUBSCRIBE_MAILTO: str = "privacy@example.com"
    # Delivery of the outbox: how often, how many per SMTP connection, how long a claim holds.
    DELIVER_EVERY_SECONDS: int = 15
    DELIVERY_BATCH_SIZE: int = 200
    DELIVERY_LEASE_SECONDS: int = 600
    # Temporary failures are retried with exponential backoff and jitter, from the first delay
    # up to the cap, for this long in all; then the notification is dead and shown to admins.
    RETRY_FIRST_DELAY_SECONDS: int = 60
    RETRY_MAX_DELAY_SECONDS: int = 3 * 3600
    RETRY_FOR_SECONDS: int = 2 * 86400

    # Webhooks: posted by their own job, with the same claims and backoff as email. A failed post
    # (no 2xx, a time-out, a refused address) is retried from the first delay up to the cap, for
    # WEBHOOK_RETRY_FOR_SECONDS in all (3 days); then the delivery is dead.
    WEBHOOK_DELIVER_EVERY_SECONDS: int = 15
    WEBHOOK_BATCH_SIZE: int = 50
    WEBHOOK_LEASE_SECONDS: int = 300
    WEBHOOK_CONNECT_TIMEOUT: float = 5.0
    WEBHOOK_READ_TIMEOUT: float = 10.0
    WEBHOOK_RETRY_FIRST_DELAY_SECONDS: int = 30
    WEBHOOK_RETRY_MAX_DELAY_SECONDS: int = 6 * 3600
    WEBHOOK_RETRY_FOR_SECONDS: int = 3 * 86400
    # Endpoints on private, loopback or link-local addresses, and plain http: development and
    # tests only. Unset, it is on in debug mode and off otherwise.
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: bool | None = None

    # Retention: how long personal data is kept, enforced by the retention job (privacy/jobs.py)
    # every RETENTION_EVERY_SECONDS. Past its period a record is deleted or anonymised.
    # Sign-ups never confirmed (and new addresses never confirmed) are deleted after this.
    UNCONFIRMED_PURGE_AFTER_SECONDS: int = 3 * 86400
    # An address that unsubscribed is erased this many days after it did.
    RETENTION_UNSUBSCRIBED_DAYS: int = 30
    # An address our mail server refuses for good (bouncing) is erased this many days after.
    RETENTION_BOUNCING_DAYS: int = 90
    # Notifications and delivery attempts lose their link to the address and their error text.
    RETENTION_DELIVERY_YEARS: int = 3
    # Objections lose the objector's name, address and reason (organisation, notice, dates stay).
    RETENTION_OBJECTION_YEARS: int = 3
    RETENTION_EVERY_SECONDS: int = 3600
    # Erasures per transaction: the job commits after each batch, so SQLite's one write lock is
    # never held for long (a batch of 200 is a few statements; bench/jobs.py measures it).
    RETENTION_BATCH_SIZE: int = 200

    # The cost of each password hash (argon2id): passes, memory in KiB, lanes. These are
    # argon2-cffi's defaults (RFC 9106, low-memory profile); the tests set argon2's cheapest.
    PASSWORD_HASH_TIME_COST: int = 3
    PASSWORD_HASH_MEMORY_COST: int = 65536
    PASSWORD_HASH_PARALLELISM: int = 4

    # Number of proxies in front of the app whose X-Forwarded-For to trust (0: none).
    TRUSTED_PROXIES: int = 0

    # Origins (https://host[:port]) whose pages may frame a list's embeddable view, /processors/embed
    # and /lists/<slug>/embed. Empty: nothing may be framed, anywhere. Every other page refuses
    # framing whatever this says. In the environment: FLASK_FRAME_ANCESTORS='["https://a.example"]'
    # (JSON) or a space- or comma-separated string.
    FRAME_ANCESTORS: ClassVar[list[str]] = []


def load(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill ``app.config`` from every layer, then check what must not be missing."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env()
    if overrides:
        app.config.update(overrides)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        path = os.path.join(app.instance_path, "registry.sqlite")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A file needs no liveness check before each checkout (a server connection does).
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            k: v for k, v in app.config["SQLALCHEMY_ENGINE_OPTIONS"].items() if k != "pool_pre_ping"
        }
    if not app.config["PUBLIC_BASE_URL"]:
        app.config["PUBLIC_BASE_URL"] = local_base_url(app.config["RUN_HOST"], app.config["RUN_PORT"])
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = app.config["PUBLIC_BASE_URL"].startswith("https://")
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    if app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] is None:
        app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = app.debug
    app.config["FRAME_ANCESTORS"] = frame_ancestors(app.config["FRAME_ANCESTORS"])
    _require_secret_key(app)


def local_base_url(host: str, port: int | str) -> str:
    """The address a browser on this machine opens to reach ``flask run --host host --port port``.

    A server listening on every interface (0.0.0.0, ::) is reached here at the loopback address.
    """
    host = str(host).strip() or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):  # noqa: S104  # not a binding: what a browser opens
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{port}"


class ConfigurationError(RuntimeError):
    """The service cannot start safely with this configuration."""


def _require_secret_key(app: Flask) -> None:
    if app.config.get("SECRET_KEY"):
        return
    if app.debug or app.testing:
        # A throwaway key: sessions do not survive a restart, which is fine while developing.
        app.config["SECRET_KEY"] = os.urandom(32).hex()
        return
    raise ConfigurationError(
        "SECRET_KEY is not set. Set it in instance/config.py (SECRET_KEY = '...') or in the "
        "environment (FLASK_SECRET_KEY=...); generate one with: "
        "python -c 'import secrets; print(secrets.token_hex(32))'"
    )


# An origin as CSP's frame-ancestors takes it: https, a host name (or IPv4 address), maybe a port.
_ORIGIN = re.compile(
    r"https://(?P<host>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
    r"(?::(?P<port>[0-9]{1,5}))?",
    re.ASCII,
)


def frame_ancestors(value: object) -> list[str]:
    """FRAME_ANCESTORS checked and normalised (lower case, no default port), or a start-up error.

    Each origin ends up verbatim in a Content-Security-Policy header, so anything but a plain
    ``https://host[:port]`` is refused rather than trusted: no path, no wildcard, no quote or
    keyword that would widen the policy.
    """
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items: list[object] = list(value.replace(",", " ").split())
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ConfigurationError(
            'FRAME_ANCESTORS must be a list of origins such as ["https://www.example.com"], '
            f"not {type(value).__name__}."
        )
    origins: list[str] = []
    for item in items:
        text = item.strip().lower() if isinstance(item, str) else ""
        match = _ORIGIN.fullmatch(text)
        port = int(match["port"]) if match and match["port"] else None
        if match is None or (port is not None and not 0 < port < 65536):
            raise ConfigurationError(
                f"FRAME_ANCESTORS: {str(item)[:100]!r} is not an origin. Give each as https://host or "
                "https://host:port, e.g. https://www.example.com, without a path, a trailing slash or "
                "a wildcard."
            )
        origin = f"https://{match['host']}" + (f":{port}" if port not in (None, 443) else "")
        if origin not in origins:
            origins.append(origin)
    return origins
