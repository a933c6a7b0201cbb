"""Rendered answers kept in the database, so that every worker of an installation shares them.

A past version, a diff between two versions, an older page of history: once published, each is
a fixed sequence of bytes. The per-process cache (``registry.caching``) already keeps them, but
each worker would still render each one once, and a cold worker pays for a 3,000-entry diff on
its first request. So what can be named for ever is also stored here, on first request, and read
back by every other worker and after every restart.

The key names the thing (list, version numbers and publication times, format) and the code
that rendered it (``code_revision``): a deploy that changes a template or a renderer reaches
new keys, and the old rows are only unreachable (``forget_other_revisions`` drops them). Only
the body and its content type are kept, never headers: the normal header path (CORS, security
headers, ``Link``) runs on a stored answer as on a fresh one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import LargeBinary, String, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.database import is_busy, transaction_intent
from registry.extensions import Model, db
from registry.timeutil import UTCDateTime, utcnow

log = logging.getLogger(__name__)

# What the rendering is made of: the templates, the code, the project's version.
_SOURCES = ("templates", "registry")
_SUFFIXES = frozenset({".py", ".html", ".txt", ".xml"})
# Settings that shape rendered bytes (absolute links, the company's name, which versions a page
# of history holds: its keys name a page by where it stops, not by its size).
_RENDERED_SETTINGS = ("COMPANY_NAME", "PUBLIC_BASE_URL", "DEFAULT_LIST", "HISTORY_PAGE_SIZE")
# A reader never waits long for the store: if it is busy, the answer is served unstored.
_STORE_LOCK_WAIT = 1.0


class RenderedAnswer(Model):
    """One rendered body of something immutable (or of one revision of a list), with its type."""

    __tablename__ = "rendered_answers"

    # A digest of the code revision and the key: the row's whole identity.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # What it is, for people reading the table ("('diff.json', 1, 3, ...)"); never looked up by.
    name: Mapped[str] = mapped_column(String(500))
    code_revision: Mapped[str] = mapped_column(String(32), index=True)
    # For what moves with a list (its current page, the first page of its history, its feeds): a
    # digest naming it without the list's revision. Storing a newer one deletes the older ones.
    family: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    content_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def code_revision(root: Path, settings: dict[str, object]) -> str:
    """A digest of every template and source file under ``root`` and of the settings that show in
    pages: computed once at start, it changes with any deploy that could change a rendering."""
    digest = hashlib.blake2b(digest_size=12)
    project = root / "pyproject.toml"
    if project.is_file():
        digest.update(project.read_bytes())
    for folder in _SOURCES:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in _SUFFIXES and path.is_file():
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name in _RENDERED_SETTINGS:
        digest.update(f"{name}={settings.get(name)!r}\0".encode())
    return digest.hexdigest()


def register(app: Flask, root: str) -> None:
    """Fix the code revision for this process (``RENDER_REVISION`` overrides it, for tests)."""
    revision = app.config.get("RENDER_REVISION") or code_revision(Path(root), app.config)
    app.extensions["render_revision"] = revision


def current_revision() -> str:
    return str(current_app.extensions["render_revision"])


def key_digest(revision: str, key: Hashable) -> str:
    """The row key of ``key`` rendered by code ``revision``; ``key`` holds only plain values, so
    its ``repr`` is the same in every process."""
    return hashlib.blake2b(repr((revision, key)).encode(), digest_size=20).hexdigest()


def fetch_or_store(
    session: Session,
    key: Hashable,
    content_type: str,
    render: Callable[[], bytes],
    *,
    family: Hashable | None = None,
) -> bytes:
    """The stored body of ``key``, or ``render()`` stored for every worker after this one.

    The row is written in a short transaction of its own, on its own connection: a reader's GET
    never commits the request's session, and two workers rendering the same thing at once both
    answer (the second ``INSERT`` does nothing). A busy database only means it is not stored.
    ``family`` names what ``key`` is one revision of: the older revisions' rows are deleted, so
    the table holds one current page per list, not one per change ever made.
    """
    body = stored(session, key)
    if body is not None:
        return body
    body = render()
    store(key, content_type, body, family=family)
    return body


def stored(session: Session, key: Hashable) -> bytes | None:
    """The body stored for ``key`` by this code revision, if any."""
    digest = key_digest(current_revision(), key)
    body = session.scalar(select(RenderedAnswer.body).where(RenderedAnswer.key == digest))
    return None if body is None else bytes(body)


def stored_keys(session: Session, keys: list[Hashable]) -> set[Hashable]:
    """Which of ``keys`` this code revision has stored: one query per few hundred keys, no bodies."""
    revision = current_revision()
    digests = {key_digest(revision, key): key for key in keys}
    found: set[Hashable] = set()
    names = list(digests)
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        found.update(
            digests[d]
            for d in session.scalars(select(RenderedAnswer.key).where(RenderedAnswer.key.in_(chunk)))
        )
    return found


def store(key: Hashable, content_type: str, body: bytes, *, family: Hashable | None = None) -> None:
    """Keep ``body`` as ``key``'s, in a short transaction on a connection of its own.

    Two processes storing the same key both succeed and one row is kept (``ON CONFLICT DO
    NOTHING``): the first one's bytes, which are the same bytes. A busy database only means it is
    not stored.
    """
    revision = current_revision()
    digest = key_digest(revision, key)
    family_digest = key_digest(revision, ("family", family)) if family is not None else None
    row = {
        "key": digest,
        "family": family_digest,
        "name": repr(key)[:500],
        "code_revision": revision,
        "content_type": content_type,
        "body": body,
        "created_at": utcnow(),
    }
    engine = db.engine
    insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(RenderedAnswer).values(**row).on_conflict_do_nothing(index_elements=["key"])
    try:
        with transaction_intent(writes=True, lock_wait=_STORE_LOCK_WAIT), engine.begin() as connection:
            if family_digest is not None:
                connection.execute(delete(RenderedAnswer).where(RenderedAnswer.family == family_digest))
            connection.execute(statement)
    except DBAPIError as error:
        if not is_busy(error):
            raise
        log.warning("The database was busy: a rendered answer was served without being stored.")


def forget_other_revisions(session: Session, revision: str) -> int:
    """Drop what older code rendered (unreachable since its deploy); the caller commits."""
    result = session.execute(delete(RenderedAnswer).where(RenderedAnswer.code_revision != revision))
    return int(getattr(result, "rowcount", 0) or 0)
