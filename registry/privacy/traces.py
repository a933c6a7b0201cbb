"""What an erasure must also clear outside the rows: the SQLite files and the mail folder.

Deleting a row leaves its bytes on disk until they are overwritten: in the free space of a page,
on free pages, and in SQLite's write-ahead log (``-wal``), which keeps every page written since
the last checkpoint. ``registry.database`` turns ``secure_delete`` on, so SQLite overwrites what
is deleted with zeros, and a checkpoint after the erasure copies those pages into the database
and empties the log. Messages written as ``.eml`` files (no mail server configured) are copies of
the address too; they are deleted.

Both happen after the caller commits, never before: a rolled-back erasure erased nothing, so its
files stay, and the log can only be emptied once the erasure is in it. The services only say
which addresses are gone (``forget_on_commit``); the session's commit does the rest, so every
caller (the manage page, the admin page, the retention job) gets it without doing anything.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from registry.database import checkpoint
from registry.extensions import db
from registry.notifications.senders import FileSender, mail_folder

log = logging.getLogger(__name__)
_PENDING_KEY = "privacy.forget_on_commit"


@dataclass
class _Pending:
    folder: str
    # Address to the notification kinds whose files go; None: every file naming it.
    addresses: dict[str, frozenset[str] | None] = field(default_factory=dict)


def forget_on_commit(
    session: Session, addresses: Iterable[str], *, kinds: Iterable[str] | None = None
) -> None:
    """Once ``session`` commits, delete the mail files of ``addresses`` (only those of ``kinds``
    of notification, when given) and checkpoint SQLite's log; a rollback (or a close without
    commit) forgets the request. Needs an app context (for the mail folder)."""
    wanted = {address.strip().lower() for address in addresses if address and address.strip()}
    if not wanted:
        return
    pending = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = _Pending(mail_folder())
    limited = None if kinds is None else frozenset(kinds)
    for address in wanted:
        before = pending.addresses.get(address, frozenset())
        # An erasure of every file wins over a request for some.
        pending.addresses[address] = None if before is None or limited is None else before | limited


def _after_commit(session: Session) -> None:
    pending: _Pending | None = session.info.pop(_PENDING_KEY, None)
    if pending is None:
        return
    bind = session.get_bind()
    try:
        emptied = checkpoint(bind if isinstance(bind, Engine) else bind.engine)
    except (sqlite3.Error, SQLAlchemyError) as error:
        # The erasure is committed: its caller must not see it fail; the files still go.
        log.warning("after an erasure, the write-ahead log was not checkpointed: %s", error)
        emptied = True
    if not emptied:
        # Only when a reader held an old snapshot all along the busy timeout; the next
        # checkpoint (SQLite makes one every 1000 pages) empties the log.
        log.warning("after an erasure, the database's write-ahead log could not be emptied yet")
    groups: dict[frozenset[str] | None, set[str]] = {}
    for address, kinds in pending.addresses.items():
        groups.setdefault(kinds, set()).add(address)
    sender = FileSender(pending.folder)
    try:
        deleted = sum(sender.forget(addresses, kinds=kinds) for kinds, addresses in groups.items())
    except OSError as error:
        # The folder itself cannot be read: the erasure is committed and must not answer 500.
        log.warning("after an erasure, the mail folder could not be read: %s", error.strerror)
        return
    if deleted:
        log.info("erasure: %d mail file(s) deleted", deleted)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without a commit (which runs first): rolled back, or the
    # session closed. What it asked for goes with it. A savepoint's end changes nothing.
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


def connect() -> None:
    """Listen to the commits of the app's sessions (once per process; ``create_app`` calls it)."""
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_transaction_end", _after_transaction_end)
