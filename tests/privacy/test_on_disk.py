"""An erased address leaves no copy on disk: not in the SQLite files (the database, its write-ahead
log and shared-memory index, free pages included) and not in the ``.eml`` files written when no
mail server is configured. The files are read as bytes, as anyone with the disk would read them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.audit.services import SYSTEM
from registry.extensions import db
from registry.notifications.senders import FileSender
from registry.privacy import jobs, services
from registry.privacy.services import years_before
from registry.subscriptions import services as subscriptions
from registry.subscriptions.models import Subscriber, SubscriberStatus
from tests.conftest import NOW, Registry, csrf_token, entry
from tests.notifications.conftest import Clock, add_subscriber, announce_acme
from tests.privacy.conftest import ADA, ADA_TYPED, BOB, deliver, object_to
from tests.subscriptions.conftest import confirm_form, confirm_path, fresh_token, post_subscribe


@pytest.fixture
def mail(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def app(app_factory: Callable[..., Flask], mail: Path) -> Flask:
    """No MAIL_SERVER: every email is written to ``mail`` as a file."""
    return app_factory(MAIL_FOLDER=str(mail))


@pytest.fixture
def published(registry: Registry) -> Registry:
    registry.create_list()
    registry.publish("sub-processors", entry("Azure"), entry("Mailer"))
    return registry


def database_files(app: Flask) -> list[Path]:
    """The SQLite database and its companions (none on PostgreSQL)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite:///"):
        return []
    main = Path(url.removeprefix("sqlite:///"))
    return [path for path in (main, Path(f"{main}-wal"), Path(f"{main}-shm")) if path.exists()]


def files_holding(folder: Path, needle: str, files: list[Path] | None = None) -> list[str]:
    """Names of the files (every file of ``folder``, or ``files``) whose bytes hold ``needle`` in
    any case."""
    candidates = files if files is not None else sorted(p for p in folder.iterdir() if p.is_file())
    wanted = needle.lower().encode()
    return [path.name for path in candidates if wanted in path.read_bytes().lower()]


def ada_and_bob(app: Flask, client: FlaskClient, published: Registry) -> str:
    """Ada signs up through the pages and confirms, gets a notice and an objection receipt; Bob
    gets the notice too. Returns a fresh link token of Ada's (what erasing asks for)."""
    assert post_subscribe(client, ADA).status_code == 200
    path = confirm_path(app, ADA)
    assert client.post(path, data=confirm_form(client, path)).status_code == 200
    add_subscriber(app, BOB)
    notice_id = announce_acme(published)
    assert deliver(app).startswith("sent 3")  # the confirmation, the notice to each
    object_to(app, notice_id, ADA_TYPED)
    assert deliver(app, Clock(NOW + timedelta(days=1))).startswith("sent 1")
    return fresh_token(app, ADA)


def test_an_erasure_leaves_the_address_in_no_file(
    app: Flask, client: FlaskClient, published: Registry, mail: Path
) -> None:
    token = ada_and_bob(app, client, published)
    assert len(files_holding(mail, ADA)) == 3  # the confirmation, the notice, the receipt
    bobs = files_holding(mail, BOB)
    assert len(bobs) == 1
    with app.app_context():
        db.session.remove()
    if database_files(app):
        assert files_holding(mail, ADA, database_files(app))  # the test can see it there

    path = f"/subscription/{token}/delete"
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert "Your data is deleted" in response.get_data(as_text=True)

    assert files_holding(mail, ADA) == []
    assert files_holding(mail, "Ada Lovelace") == []
    assert files_holding(mail, BOB) == bobs  # other people's mail stays
    files = database_files(app)
    assert files_holding(mail, ADA, files) == []
    assert files_holding(mail, "Ada Lovelace", files) == []
    if files:
        assert files_holding(mail, BOB, files)  # the database still holds what it should


def test_an_erasure_rolled_back_removes_nothing(
    app: Flask, client: FlaskClient, published: Registry, mail: Path
) -> None:
    ada_and_bob(app, client, published)
    with app.app_context():
        services.erase_address(db.session, ADA, actor=SYSTEM, now=NOW, reason="test")
        db.session.rollback()
        services.erase_address(db.session, ADA, actor=SYSTEM, now=NOW, reason="test")
        db.session.close()
        # The next commit of the same session is not the erasure's.
        add_subscriber(app, "carol@example.net")
        db.session.commit()
    assert len(files_holding(mail, ADA)) == 3


def test_retention_removes_the_mail_of_whom_it_erases(
    app: Flask, client: FlaskClient, published: Registry, mail: Path
) -> None:
    # Carol signs up and never confirms; Dan received a notice, then unsubscribed long ago; Bob
    # asked to move to Fay's address and she never confirmed; Erin objected years ago.
    carol, dan, erin, fay = "carol@example.net", "dan@example.net", "erin@example.net", "fay@example.net"
    assert post_subscribe(client, carol).status_code == 200
    add_subscriber(app, dan)
    add_subscriber(app, BOB)
    notice_id = announce_acme(published)
    object_to(app, notice_id, erin, contact_name="Erin Example", reason="No.")
    with app.app_context():
        bob = db.session.scalar(select(Subscriber).where(Subscriber.email == BOB))
        assert bob is not None
        subscriptions.request_address_change(db.session, bob, fay, now=NOW)
        db.session.commit()
    assert deliver(app, Clock(NOW + timedelta(days=1))).startswith("sent 5")
    for address in (carol, dan, erin, fay):
        assert len(files_holding(mail, address)) == 1, address
    bobs = files_holding(mail, BOB)
    later = years_before(NOW, -app.config["RETENTION_OBJECTION_YEARS"]) + timedelta(days=2)
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == dan))
        assert subscriber is not None
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        subscriber.unsubscribed_at = NOW
        db.session.commit()
        results = jobs.enforce_retention(clock=lambda: later)
    assert results["unconfirmed_subscribers"] == results["unsubscribed_subscribers"] == 1
    assert results["unconfirmed_addresses"] == results["objections"] == 1

    files = database_files(app)
    for address in (carol, dan, erin, fay):
        assert files_holding(mail, address) == [], address
        assert files_holding(mail, address, files) == [], address
    assert files_holding(mail, BOB) == bobs


def test_retention_leaves_the_mail_of_subscribers_it_does_not_erase(
    app: Flask, client: FlaskClient, published: Registry, mail: Path
) -> None:
    """Forgetting a stale address change or an old objection deletes the files of that request
    only: Mallory asking to move to Bob's address (which Bob ignores) cannot make Bob's mail
    vanish once the request goes stale, and Ada's objection past its period takes its receipt
    with it, not her notices, as she is still subscribed."""
    mallory = "mallory@example.net"
    add_subscriber(app, ADA)
    add_subscriber(app, BOB)
    add_subscriber(app, mallory)
    notice_id = announce_acme(published)
    object_to(app, notice_id, ADA, contact_name="Ada Lovelace", reason="No.")
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == mallory))
        assert subscriber is not None
        subscriptions.request_address_change(db.session, subscriber, BOB, now=NOW)
        db.session.commit()
    assert deliver(app, Clock(NOW + timedelta(days=1))).startswith("sent 5")
    bobs = files_holding(mail, BOB)
    assert len(bobs) == 2  # the notice, and the link to confirm Mallory's move
    adas = files_holding(mail, ADA)
    receipts = [name for name in adas if ".objection_receipt_" in name]
    assert len(adas) == 2 and len(receipts) == 1  # the notice, and the objection's receipt
    later = years_before(NOW, -app.config["RETENTION_OBJECTION_YEARS"]) + timedelta(days=2)
    with app.app_context():
        results = jobs.enforce_retention(clock=lambda: later)
    assert results["unconfirmed_addresses"] == results["objections"] == 1

    assert files_holding(mail, BOB) == bobs  # Bob's mail is his, and he is still subscribed
    # The receipt goes; her notice stays, as she is still subscribed.
    assert files_holding(mail, ADA) == sorted(set(adas) - set(receipts))


def test_mail_files_are_recognised_by_any_recipient_header_in_any_case(tmp_path: Path) -> None:
    """Files name messages by their Message-ID, not by whom they went to: the headers tell, and
    the text, decoded, of a message that mentions the address."""
    (tmp_path / "a.eml").write_bytes(b"To: Ada <ADA@Example.COM>\r\nSubject: hi\r\n\r\nHello\r\n")
    (tmp_path / "b.eml").write_bytes(b"To: bob@example.org\r\nCc: ada@example.com\r\n\r\nHello\r\n")
    (tmp_path / "c.eml.partial").write_bytes(b"To: ada@example.com\r\n\r\nHal")
    (tmp_path / "d.eml").write_bytes(b"To: bob@example.org\r\nSubject: hi\r\n\r\nHello\r\n")
    quoted = base64.b64encode(b"Ada (ada@example.com) asked us to write to you.")
    (tmp_path / "e.eml").write_bytes(
        b"To: bob@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + quoted + b"\r\n"
    )
    (tmp_path / "notes.txt").write_bytes(b"ada@example.com")  # not ours to delete
    assert FileSender(str(tmp_path)).forget([ADA]) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.eml", "notes.txt"]
    assert FileSender(str(tmp_path / "missing")).forget([ADA]) == 0


def test_an_erasure_keeps_the_mail_of_addresses_that_merely_contain_the_erased_one(tmp_path: Path) -> None:
    """Erasing ada@example.com deletes her mail only: not that of nada@example.com or of
    ada@example.com.au, whose addresses hold hers as a substring (their owners erased nothing)."""
    (tmp_path / "ada.eml").write_bytes(b"To: ada@example.com\r\n\r\nHello\r\n")
    (tmp_path / "ada-end.eml").write_bytes(b"To: bob@example.org\r\n\r\nAda wrote from ada@example.com.\r\n")
    (tmp_path / "nada.eml").write_bytes(b"To: nada@example.com\r\n\r\nHello\r\n")
    (tmp_path / "au.eml").write_bytes(b"To: ada@example.com.au\r\n\r\nHello\r\n")
    (tmp_path / "sub.eml").write_bytes(b"To: ada@example.community\r\n\r\nHello\r\n")
    quoted = base64.b64encode(b"Nada (nada@example.com) asked us to write to you.")
    (tmp_path / "nada-body.eml").write_bytes(
        b"To: bob@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + quoted + b"\r\n"
    )
    assert FileSender(str(tmp_path)).forget([ADA]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["au.eml", "nada-body.eml", "nada.eml", "sub.eml"]


def test_an_erasure_deletes_nothing_outside_the_mail_folder(tmp_path: Path) -> None:
    """Only files in the folder itself go: a link in it to a file elsewhere loses the link, and
    the file it points to stays, as does a subfolder's message."""
    mail, elsewhere = tmp_path / "mail", tmp_path / "elsewhere"
    mail.mkdir()
    elsewhere.mkdir()
    outside = elsewhere / "outside.eml"
    outside.write_bytes(b"To: ada@example.com\r\n\r\nHello\r\n")
    (mail / "link.eml").symlink_to(outside)
    (mail / "sub").mkdir()
    (mail / "sub" / "nested.eml").write_bytes(b"To: ada@example.com\r\n\r\nHello\r\n")
    (mail / "up.eml").symlink_to(elsewhere)
    FileSender(str(mail)).forget([ADA])
    assert outside.read_bytes().startswith(b"To: ada@example.com")
    assert (mail / "sub" / "nested.eml").exists()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["outside.eml"]


def test_sqlite_connections_overwrite_what_they_delete(app: Flask) -> None:
    # Many SQLite builds (Debian's among them) default to it; others do not: the app says so.
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            pytest.skip("SQLite only")
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
