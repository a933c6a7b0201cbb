"""How an objection deadline reads (the last day it is open, or its exact time off midnight) in
every place a reader meets it, and the short reference an objector quotes: drawn readable and
unique, shown on the receipt page, in the receipt email, on the admin pages and in the CSV,
with a receipt that says what happens next."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.extensions import db
from registry.notifications.jobs import deliver_outbox
from registry.objections import services, views
from registry.objections.models import Objection
from tests.conftest import NOW, Registry, entry
from tests.notifications import conftest as delivery
from tests.notifications.conftest import Clock, add_subscriber
from tests.objections.conftest import SLUG, Announced, announce_addition, notice_row, receive, send
from tests.smtp import SmtpServer

smtp = delivery.smtp
app = delivery.app

REFERENCE = re.compile(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}")
# Takes effect at midnight: the deadline, a day before, is 28 February at 00:00, the end of the 27th.
MIDNIGHT = datetime(2027, 3, 1, tzinfo=UTC)
# A short-notice change at 14:30: the deadline falls at 14:30 the day before.
AFTERNOON = datetime(2027, 1, 12, 14, 30, tzinfo=UTC)
LEGAL = "legal@customer.example"


def text(body: str | bytes) -> str:
    return html.unescape(body.decode() if isinstance(body, bytes) else body)


def bodies(message: EmailMessage) -> Iterator[str]:
    for kind in ("plain", "html"):
        part = message.get_body((kind,))
        assert part is not None
        yield text(part.get_content())


def announced_at(registry: Registry, effective_at: datetime, **kw: str) -> Announced:
    registry.create_list(SLUG, "Sub-processors")
    registry.publish(SLUG, entry("Stripe", locations=["IE"]))
    add_subscriber(registry.app, LEGAL)
    return announce_addition(registry, effective_at=effective_at, **kw)


def everywhere(client: FlaskClient, app: Flask, smtp: SmtpServer, announced: Announced) -> dict[str, str]:
    """Every text a reader sees the deadline in: the list page's upcoming box, the objection form,
    the feed, the notice email (subject and both bodies)."""
    with app.app_context():
        deliver_outbox(clock=Clock(NOW))
    [message] = smtp.mailbox.to(LEGAL)
    plain, rich = bodies(message)
    return {
        "list page": text(client.get(f"/lists/{SLUG}", follow_redirects=True).data),
        "objection form": text(client.get(announced.form_url).data),
        "atom feed": text(client.get(f"/lists/{SLUG}/feed.atom").data),
        "rss feed": text(client.get(f"/lists/{SLUG}/feed.rss").data),
        "email subject": str(message["Subject"]),
        "email text": plain,
        "email html": rich,
    }


def test_a_midnight_deadline_reads_as_the_end_of_the_day_before(
    client: FlaskClient, app: Flask, registry: Registry, smtp: SmtpServer
) -> None:
    """The defect: "Objections until 28 February 2027, 00:00 UTC" reads as if the 28th were open."""
    announced = announced_at(registry, MIDNIGHT)
    assert notice_row(app, announced.id).objection_deadline == datetime(2027, 2, 28, tzinfo=UTC)
    texts = everywhere(client, app, smtp, announced)
    for where, seen in texts.items():
        assert "28 February 2027, 00:00" not in seen, where
        if where != "email subject":  # the subject is the notice's title: it names the effective date
            assert "27 February 2027, end of day UTC" in seen, where
    assert "Object by 27 February 2027, end of day UTC" in texts["email html"].replace("</th><td>", " ")
    assert "Object by: 27 February 2027, end of day UTC" in texts["email text"]
    assert "Object by: 27 February 2027, end of day UTC." in texts["atom feed"]


def test_a_deadline_off_midnight_reads_to_the_minute(
    client: FlaskClient, app: Flask, registry: Registry, smtp: SmtpServer
) -> None:
    announced = announced_at(registry, AFTERNOON, short_notice_reason="A security fix that cannot wait.")
    texts = everywhere(client, app, smtp, announced)
    for where, seen in texts.items():
        assert "end of day" not in seen, where
        if where != "email subject":
            assert "11 January 2027, 14:30 UTC" in seen, where


def test_a_closed_window_names_the_last_day_it_was_open(
    client: FlaskClient, app: Flask, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    announced = announced_at(registry, MIDNIGHT)
    monkeypatch.setattr(views, "utcnow", lambda: datetime(2027, 2, 28, 0, 0, 1, tzinfo=UTC))
    response = client.get(announced.form_url)
    assert response.status_code == 410
    assert "the last day to object was 27 February 2027, end of day UTC" in text(response.data)


def test_the_receipt_quotes_a_short_reference_and_says_what_happens_next(
    client: FlaskClient, app: Flask, registry: Registry, smtp: SmtpServer
) -> None:
    announced = announced_at(registry, MIDNIGHT)
    response = send(client, announced)
    assert response.status_code == 303
    page = text(client.get(response.location).data)
    with app.app_context():
        [objection] = db.session.scalars(db.select(Objection)).all()
        reference, internal = objection.reference, objection.uuid
        deliver_outbox(clock=Clock(NOW))
    assert REFERENCE.fullmatch(reference)
    [receipt] = [m for m in smtp.mailbox.to("jane.doe@globex.example")]
    assert receipt["Subject"] == f"We received your objection (reference {reference})"
    for seen in (page, *bodies(receipt)):
        seen = " ".join(seen.split())
        assert reference in seen
        assert internal not in seen
        assert "What happens next" in seen
        assert "Example Cloud Ltd reviews your objection and answers you at" in seen
        assert "The change takes effect on 1 March 2027, 00:00 UTC unless it is withdrawn." in seen
        assert "If it is withdrawn, we email you" in seen
        assert "Object by 27 February 2027, end of day UTC if you have more to add" in seen


def test_references_are_readable_and_never_given_twice(
    app: Flask, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    announced = announced_at(registry, MIDNIGHT)
    ids = [receive(app, announced.id, organisation=f"Customer {n}") for n in range(30)]
    with app.app_context():
        references = [db.session.get(Objection, i).reference for i in ids]  # type: ignore[union-attr]
        assert all(REFERENCE.fullmatch(r) for r in references)
        assert len(set(references)) == len(references)
        assert not set("".join(references)) & set("01OIL")
        # A draw that hits a reference in use is drawn again.
        draws = iter([references[0], references[1], "ZZZZ-2222"])
        monkeypatch.setattr(services, "random_reference", lambda: next(draws))
        assert services.new_reference(db.session) == "ZZZZ-2222"


def test_the_admin_pages_and_the_csv_show_the_reference(
    editor: FlaskClient, app: Flask, registry: Registry
) -> None:
    announced = announced_at(registry, MIDNIGHT)
    objection_id = receive(app, announced.id)
    with app.app_context():
        objection = db.session.get(Objection, objection_id)
        assert objection is not None
        reference, internal = objection.reference, objection.uuid
    listing = text(editor.get("/admin/objections").data)
    assert reference in listing
    assert "Open until 27 February 2027, end of day UTC" in listing
    detail = text(editor.get(f"/admin/objections/{objection_id}").data)
    assert reference in detail and internal not in detail
    assert "object by 27 February 2027, end of day UTC" in detail
    [row] = csv.DictReader(io.StringIO(editor.get("/admin/objections.csv").get_data(as_text=True)))
    assert row["reference"] == reference


def test_an_editor_finds_an_objection_by_the_reference_as_quoted(
    editor: FlaskClient, app: Flask, registry: Registry
) -> None:
    announced = announced_at(registry, MIDNIGHT)
    wanted = receive(app, announced.id, organisation="Globex Corporation")
    receive(app, announced.id, organisation="Initech")
    with app.app_context():
        objection = db.session.get(Objection, wanted)
        assert objection is not None
        reference = objection.reference
    # As read out on the phone: lower case, a space instead of the hyphen.
    typed = reference.lower().replace("-", " ")
    page = text(editor.get("/admin/objections", query_string={"reference": typed}).data)
    assert "Globex Corporation" in page and "Initech" not in page
    exported = editor.get("/admin/objections.csv", query_string={"reference": typed})
    assert [row["organisation"] for row in csv.DictReader(io.StringIO(exported.get_data(as_text=True)))] == [
        "Globex Corporation"
    ]
    nobody = text(editor.get("/admin/objections", query_string={"reference": "ZZZZ-ZZZZ"}).data)
    assert "No objections with the reference ZZZZ-ZZZZ." in nobody
    # An O for a 0 or a uuid is no reference: a clear 400, never a 500.
    for wrong in ("K7QX-3M9O", objection.uuid, "K7QX"):
        response = editor.get("/admin/objections", query_string={"reference": wrong})
        assert response.status_code == 400
        assert "The reference must be eight letters and digits, such as K7QX-3M9P." in text(response.data)
