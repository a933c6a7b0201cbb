"""Over HTTPS the sender connects to the checked address and still verifies the certificate
against the URL's host name: a certificate for another name, or from an unknown authority, is
a failed attempt and nothing is posted."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from flask import Flask

from registry.extensions import db
from registry.webhooks.jobs import deliver_webhooks
from registry.webhooks.models import WebhookDelivery, WebhookDeliveryStatus
from tests.conftest import Registry
from tests.webhooks.conftest import announce_acme, register
from tests.webhooks.receiver import Receiver


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test authority, and a certificate from it for localhost (and one for another name)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the TLS tests need it to make certificates")
    folder = tmp_path_factory.mktemp("tls")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
        "-keyout", "ca.key", "-out", "ca.pem", cwd=folder,
    )  # fmt: skip
    for name in ("localhost", "elsewhere.example"):
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder,
        )  # fmt: skip
        (folder / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\n")
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=folder,
        )  # fmt: skip
    return folder


def _receiver(certificates: Path, name: str) -> Receiver:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / f"{name}.pem", certificates / f"{name}.key")
    return Receiver(tls=context).start()


@pytest.fixture
def trusted(certificates: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender trusts the test authority (as it trusts the system's, via SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))


def _delivery(app: Flask) -> WebhookDelivery:
    with app.app_context():
        deliver_webhooks()
        (row,) = db.session.scalars(db.select(WebhookDelivery)).all()
        db.session.expunge(row)
        return row


@pytest.mark.usefixtures("trusted")
def test_a_verified_certificate_for_the_host_name_is_delivered_to(
    app: Flask, published: Registry, certificates: Path
) -> None:
    receiver = _receiver(certificates, "localhost")
    try:
        _, receiver.secret = register(app, f"https://localhost:{receiver.port}/hooks")
        announce_acme(published)
        row = _delivery(app)
        assert row.status is WebhookDeliveryStatus.SENT
        (got,) = receiver.received
        assert got.verified and got.headers["host"] == f"localhost:{receiver.port}"
    finally:
        receiver.stop()


@pytest.mark.usefixtures("trusted")
def test_a_certificate_for_another_name_is_refused(
    app: Flask, published: Registry, certificates: Path
) -> None:
    receiver = _receiver(certificates, "elsewhere.example")
    try:
        _, receiver.secret = register(app, f"https://localhost:{receiver.port}/hooks")
        announce_acme(published)
        row = _delivery(app)
        assert row.status is WebhookDeliveryStatus.RETRYING
        assert row.last_error is not None and "certificate verify failed" in row.last_error
        assert receiver.received == []
    finally:
        receiver.stop()


def test_a_certificate_from_an_unknown_authority_is_refused(
    app: Flask, published: Registry, certificates: Path
) -> None:
    receiver = _receiver(certificates, "localhost")
    try:
        _, receiver.secret = register(app, f"https://localhost:{receiver.port}/hooks")
        announce_acme(published)
        row = _delivery(app)
        assert row.status is WebhookDeliveryStatus.RETRYING
        assert row.last_error is not None and "certificate verify failed" in row.last_error
        assert receiver.received == []
    finally:
        receiver.stop()
