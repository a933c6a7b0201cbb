"""Every public page and email of the demo is valid HTML, as the Nu HTML checker (``vnu``, the
W3C's checker) reads it: one run of the checker over all of them, and any error fails.

The pages are those a reader reaches by links (``tests/crawl.py``), the pages behind the links
the emails carry (confirming, managing a subscription, objecting), the error pages, and the
pages a signed-in admin sees. The emails are those the demo sends and those a reader's
subscribing, confirming, objecting, asking for a link, moving to a new address, a policy's
revision and a weekly digest make, as written to the mail folder. A second test checks the emails
the rest of the workflow sends (a correction, a withdrawal and the objector's news of it, a
reminder, a document revision's withdrawal, a digest bundled after its change took effect); between
the two, every folder of ``templates/email/`` is checked.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from registry.audit.services import Actor
from registry.documents import services as document_services
from registry.documents import workflow as document_workflow
from registry.documents.models import DocumentRevision
from registry.extensions import db
from registry.lists import services, workflow
from registry.lists.models import Notice, NoticeKind, NoticeStatus
from registry.notifications import outbox
from registry.notifications.jobs import bundle_digests, deliver_outbox
from registry.objections import services as objections
from registry.subscriptions.models import Frequency, Subscription
from registry.timeutil import utcnow
from tests.checkers import VNU_JAR, installed, java
from tests.commands import ROOT
from tests.conftest import NOW, Registry, entry
from tests.crawl import NOT_PAGES, crawl, demo_admin
from tests.documents.conftest import Documents
from tests.notifications.conftest import Clock, add_subscriber, announce_acme, correct_a_link
from tests.subscriptions.conftest import SAME_ORIGIN, confirm_form

# The demo is the same on either database: the checker reads it once, on SQLite.
ON_SQLITE = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

READER = "dpo@customer.example"
MOVED = "privacy@customer.example"
LINK = re.compile(r"https://registry\.example(/[^\s\"'<>]*)")


@dataclass
class Problem:
    where: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.message}"


def check(documents: dict[str, str], folder: Path) -> list[Problem]:
    """Run the Nu HTML checker once over ``documents`` (name -> HTML); its errors, by name.

    Its "info" messages (warnings) are advice and pass; "error" and "non-document-error" fail.
    """
    files: dict[str, str] = {}
    for number, (name, html) in enumerate(sorted(documents.items())):
        path = folder / f"{number:04d}.html"
        path.write_text(html, encoding="utf-8")
        files[str(path)] = name
    result = subprocess.run(
        [java(), "-jar", str(installed(VNU_JAR)), "--format", "json", "--exit-zero-always", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    messages = json.loads(result.stderr)["messages"]
    # vnu names each file by its URL, "file:/tmp/.../0001.html".
    by_url = {f"file:{path}": name for path, name in files.items()}
    return [
        Problem(by_url.get(message.get("url", ""), "(no file)"), message.get("lastLine"), message["message"])
        for message in messages
        if message["type"] != "info"
    ]


def mail(app: Flask) -> list[EmailMessage]:
    """Every message written to the mail folder so far, oldest first."""
    folder = Path(app.instance_path) / "mail"
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"), key=lambda path: path.stat().st_mtime_ns)
    ]


def send_due(app: Flask, *, now_plus: timedelta = timedelta(0)) -> None:
    """Bundle the digests due by then and deliver everything due, as the scheduler would."""
    with app.app_context():
        bundle_digests(clock=lambda: utcnow() + now_plus)
        deliver_outbox(clock=lambda: utcnow() + now_plus)


def links(message: EmailMessage) -> list[str]:
    """The paths of this site that a message's plain text links to."""
    body = message.get_body(("plain",))
    assert body is not None
    # A link at the end of a sentence, or in brackets, leaves the punctuation out.
    return [match.group(1).rstrip(".,;:)") for match in LINK.finditer(body.get_content())]


# The folders of ``templates/email/``, one per kind of email (the others are partials).
TEMPLATES = ROOT / "templates" / "email"
# Those the demo's emails and a reader's own steps use (the first test), and those the
# publication workflow's other events use (the second): between them, every one.
DEMO_TEMPLATES = {
    "notice",
    "objection_receipt",
    "confirmation",
    "manage_link",
    "address_change",
    "revision",
    "digest",
}
EVENT_TEMPLATES = {"notice", "reminder", "objection_closed", "revision", "digest"}
MESSAGE_ID = re.compile(r"<notification\.\d+\.(\w+)@")


def kind_of(message: EmailMessage) -> str:
    """The notification kind a message was sent for, as its Message-ID names it."""
    match = MESSAGE_ID.match(str(message["Message-ID"]))
    assert match, f"no notification in the Message-ID of {message['Subject']!r}"
    return match.group(1)


def template_of(message: EmailMessage) -> str:
    """The folder of ``templates/email/`` a message was rendered from: a revision's withdrawal is
    a revision email, and a confirmation sent to a new address is the address change's."""
    kind = kind_of(message)
    if kind == "revision_withdrawal":
        return "revision"
    if kind == "confirmation" and any(path.startswith("/subscription/address/") for path in links(message)):
        return "address_change"
    return kind


def html_part(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None, f"no HTML part in {message['Subject']!r}"
    return str(body.get_content())


@ON_SQLITE
def test_every_public_page_and_email_of_the_demo_is_valid_html(
    runner: FlaskCliRunner, client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    pages: dict[str, str] = {}
    reader = app.test_client()
    for path, markup in crawl(reader, "/", "/processors", "/documents", "/subscribe", "/sign-in").items():
        if markup.html:
            pages[path] = markup.html

    # The error pages: an unknown page, a malformed URL, an objection link past its deadline.
    with app.app_context():
        closed = db.session.scalars(
            select(Notice.uuid).where(
                Notice.kind == NoticeKind.ANNOUNCEMENT,
                Notice.status == NoticeStatus.PUBLISHED,
                Notice.objection_deadline < utcnow(),
            )
        ).first()
    for path, status in (
        ("/nothing-here", 404),
        ("/processors/versions/abc", 400),
        (f"/notices/{closed}/object", 410),
    ):
        response = reader.get(path)
        assert response.status_code == status, path
        pages[path] = response.get_data(as_text=True)

    # The demo's own notice to its subscriber, and the objection its link leads to.
    send_due(app)
    objecting = next(path for message in mail(app) for path in links(message) if path.endswith("/object"))
    pages[objecting] = reader.get(objecting).get_data(as_text=True)
    form = {"csrf_token": _csrf(pages[objecting])}
    form |= {"organisation": "Customer GmbH", "contact_name": "Dana", "email": READER, "reason": "Too far."}
    sent = reader.post(objecting, data=form)
    assert sent.status_code == 303, sent.get_data(as_text=True)
    received = urlsplit(sent.headers["Location"]).path
    pages[received] = reader.get(received).get_data(as_text=True)

    # A reader subscribes for a weekly digest, confirms by the emailed link, manages it.
    subscribed = reader.post(
        "/subscribe",
        data={
            "email": READER,
            "lists": ["sub-processors"],
            "documents": ["privacy-policy"],
            "frequency": "weekly",
        },
        headers=SAME_ORIGIN,
    )
    assert subscribed.status_code in (200, 303), subscribed.get_data(as_text=True)
    pages["/subscribe (sent)"] = subscribed.get_data(as_text=True)
    send_due(app)
    confirming = next(
        path for message in mail(app) for path in links(message) if path.startswith("/subscribe/confirm/")
    )
    pages[confirming] = reader.get(confirming).get_data(as_text=True)
    confirmed = reader.post(confirming, data=confirm_form(reader, confirming))
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)
    pages[f"{confirming} (confirmed)"] = confirmed.get_data(as_text=True)
    pages[f"{confirming} (used)"] = reader.get(confirming).get_data(as_text=True)
    asked = reader.post("/subscription", data={"email": READER, "csrf_token": _csrf(pages["/subscription"])})
    assert asked.status_code == 200, asked.get_data(as_text=True)
    pages["/subscription (sent)"] = asked.get_data(as_text=True)
    send_due(app)
    # From the fresh link, the reader moves the subscription to a new address and confirms it.
    fresh = links(mail(app)[-1])[0]
    pages[fresh] = reader.get(fresh).get_data(as_text=True)
    moved = reader.post(f"{fresh}/address", data={"email": MOVED, "csrf_token": _csrf(pages[fresh])})
    assert moved.status_code == 303, moved.get_data(as_text=True)
    send_due(app)
    moving = next(path for path in links(mail(app)[-1]) if path.startswith("/subscription/address/"))
    pages[moving] = reader.get(moving).get_data(as_text=True)
    changed = reader.post(moving, data={"csrf_token": _csrf(pages[moving])})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    pages[f"{moving} (changed)"] = changed.get_data(as_text=True)

    # The notices still to take effect, owed to the new weekly subscriber: its digest.
    with app.app_context():
        upcoming = db.session.scalars(
            select(Notice).where(
                Notice.kind == NoticeKind.ANNOUNCEMENT,
                Notice.status == NoticeStatus.PUBLISHED,
                Notice.effective_at > utcnow(),
            )
        )
        for owed in upcoming:
            outbox.fan_out(db.session, owed, now=utcnow())
        # And the policy's revisions, as each was owed when it was published.
        for revision in db.session.scalars(select(DocumentRevision)):
            outbox.fan_out_revision(db.session, revision, now=utcnow())
        db.session.commit()
    send_due(app, now_plus=timedelta(days=8))

    messages = mail(app)
    # Every other page the emails link to: manage, unsubscribe, delete, the list, the documents.
    for path in sorted({path for message in messages for path in links(message)} - set(pages)):
        if NOT_PAGES.search(urlsplit(path).path):
            continue
        response = reader.get(path)
        if response.mimetype == "text/html":
            assert response.status_code == 200, path
            pages[path] = response.get_data(as_text=True)
    emails = {
        f"email {number}: {message['Subject']}": html_part(message) for number, message in enumerate(messages)
    }
    # The notice, the objection's receipt, the confirmation, the manage link, the new address's
    # confirmation, the policy's revision (sent at once: it is in effect) and the digest.
    assert len(messages) == 7, [message["Subject"] for message in messages]
    assert {template_of(message) for message in messages} == DEMO_TEMPLATES

    # The pages a signed-in admin sees.
    demo_admin(runner, client, app)
    admin = crawl(client, "/admin/", "/admin/users", "/admin/audit", "/account")
    # The public pages again, signed in, differ only in the header: the admin's own pages.
    pages |= {
        f"{path} (admin)": markup.html for path, markup in admin.items() if markup.html and path not in pages
    }

    assert len(pages) > 100, sorted(pages)
    problems = check(pages | emails, tmp_path)
    if problems:
        pytest.fail(f"{len(problems)} errors from the Nu HTML checker:\n" + "\n".join(map(str, problems)))
    admin_pages = sum(name.endswith("(admin)") for name in pages)
    print(
        f"{len(pages) - admin_pages} public and {admin_pages} admin pages, {len(emails)} emails: valid HTML"
    )


OBJECTOR = Actor(None, "objector", "10.0.0.9")
WEEKLY = "weekly@customer.example"
LEGAL = "legal@customer.example"


@ON_SQLITE
def test_every_other_email_the_workflow_sends_is_valid_html(
    app: Flask, registry: Registry, tmp_path: Path
) -> None:
    """The emails the demo does not send: a correction, a withdrawal and the objector's news of it,
    the reminder when a change takes effect, a document revision's withdrawal, and a digest bundled
    after its change took effect. Each goes through the real sender to the mail folder."""
    registry.create_list()
    registry.publish("sub-processors", entry("Azure"), entry("Mailer"))
    with app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        register_list.remind_on_effective = True
        db.session.commit()
    documents = Documents(app)
    documents.create()
    documents.publish()
    subscriber_id = add_subscriber(app, READER)
    add_subscriber(app, WEEKLY, frequency=Frequency.WEEKLY)
    with app.app_context():
        document = document_services.get_document(db.session, "privacy-policy")
        assert document is not None
        db.session.add(Subscription(subscriber_id=subscriber_id, document_id=document.id))
        db.session.commit()

    # A correction, published at once.
    correct_a_link(app)
    # An announcement objected to, then withdrawn; another that takes effect, with a reminder.
    withdrawn_id = announce_acme(registry)
    announce_acme(registry, name="Beta Metrics")
    with app.app_context():
        notice = db.session.get(Notice, withdrawn_id)
        assert notice is not None
        objections.receive(
            db.session,
            notice,
            organisation="Customer",
            contact_name="Legal",
            email=LEGAL,
            reason="Not in the US, please.",
            actor=OBJECTOR,
            now=NOW + timedelta(hours=1),
        )
        db.session.commit()
        workflow.withdraw(
            db.session, notice, reason="We chose another provider.", now=NOW + timedelta(days=1)
        )
        db.session.commit()
    # A revision of the policy announced, then withdrawn.
    revision_id = documents.announce()
    with app.app_context():
        revision = db.session.get(DocumentRevision, revision_id)
        assert revision is not None
        document_workflow.withdraw(db.session, revision, reason="A mistake.", now=NOW + timedelta(days=1))
        db.session.commit()
    effective = NOW + timedelta(days=40)
    assert registry.apply_due(effective) == 1
    # The weekly digest is bundled only after Beta Metrics took effect (a run held up, say).
    late = Clock(NOW + timedelta(days=45))
    with app.app_context():
        assert bundle_digests(clock=late) == 1
        deliver_outbox(clock=late)

    messages = mail(app)
    kinds = {(kind_of(message), message["Subject"].split(":")[0]) for message in messages}
    digests = [html_part(message) for message in messages if kind_of(message) == "digest"]
    assert ("notice", "Corrected sub-processor") in kinds, kinds
    assert ("notice", "Withdrawn") in kinds, kinds
    assert ("objection_closed", "Withdrawn") in kinds, kinds
    assert ("reminder", "In effect today") in kinds, kinds
    assert "revision_withdrawal" in {kind for kind, _ in kinds}, kinds
    assert any("Already in effect" in html for html in digests), digests
    assert {template_of(message) for message in messages} >= EVENT_TEMPLATES
    # Between the two tests, every kind of email is checked: a new template needs its check.
    assert {path.name for path in TEMPLATES.iterdir() if path.is_dir()} == DEMO_TEMPLATES | EVENT_TEMPLATES

    emails = {
        f"email {number}: {message['Subject']}": html_part(message) for number, message in enumerate(messages)
    }
    problems = check(emails, tmp_path)
    if problems:
        pytest.fail(f"{len(problems)} errors from the Nu HTML checker:\n" + "\n".join(map(str, problems)))
    print(
        f"{len(emails)} emails: valid HTML; "
        + ", ".join(sorted(f"{kind} ({subject})" for kind, subject in kinds))
    )


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def test_the_checker_finds_an_error(tmp_path: Path) -> None:
    """The checker does fail a page HTML refuses: a time to the microsecond, a repeated id."""
    page = (
        '<!doctype html><html lang="en"><title>t</title>'
        '<p id="a"><time datetime="2026-12-03T10:00:00.123456Z">today</time><p id="a">'
    )
    problems = check({"/broken": page}, tmp_path)
    assert [problem.where for problem in problems] == ["/broken", "/broken"], problems
    assert any("fraction of a second" in problem.message for problem in problems)
