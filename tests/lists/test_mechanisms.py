"""Several transfer mechanisms per entry, read the same from versions published before an entry
could name more than one: their stored bytes are kept, and nothing shows a change that did not
happen."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from registry.extensions import db
from registry.lists import services, workflow
from registry.lists.fields import assign_fields, clean_processor
from registry.lists.models import Change, ChangeAction, ChangeStatus, Notice, Processor, Version
from registry.lists.snapshots import entry_fields
from registry.lists.workflow import merge_update
from registry.notifications.emails import preview_notice_email
from registry.validation import ValidationError
from tests.conftest import NOW, Registry, entry

SLUG = "sub-processors"
_CHANGE_FIELDS = ("proposed", "base", "before", "after")
_CHANGES = sa.table("changes", sa.column("id"), *(sa.column(name, sa.JSON) for name in _CHANGE_FIELDS))
_RAW = sa.text("SELECT CAST(snapshot AS TEXT) FROM versions ORDER BY number")


def _old_shape(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    """An entry as stored before it could name several mechanisms: one code, a string."""
    if fields is None:
        return None
    return {
        ("transfer_mechanism" if key == "transfer_mechanisms" else key): (
            (value[0] if value else "") if key == "transfer_mechanisms" else value
        )
        for key, value in fields.items()
    }


def _published_as_before(app: Flask, registry: Registry, *entries: dict[str, Any]) -> None:
    """A list whose version 1 was published before an entry could name several mechanisms:
    its snapshot and its changes of the old shape, its entries as the upgrade left them. (A
    version cannot be rewritten: it is inserted so.)"""
    registry.create_list()
    with app.app_context():
        register_list = services.get_list(db.session, SLUG)
        assert register_list is not None
        cleaned = [clean_processor(e) for e in entries]
        version = Version(
            register_list=register_list,
            number=1,
            published_at=NOW,
            reason="Initial list.",
            snapshot=[_old_shape(fields) for fields in cleaned],
        )
        db.session.add(version)
        for fields in cleaned:
            processor = Processor(list_id=register_list.id, kind=fields["kind"])
            assign_fields(processor, fields)
            db.session.add(processor)
            db.session.add(
                Change(
                    list_id=register_list.id,
                    action=ChangeAction.ADD,
                    status=ChangeStatus.APPLIED,
                    processor=processor,
                    proposed=_old_shape(fields),
                    after=_old_shape(fields),
                    version=version,
                    effective_at=NOW,
                    applied_at=NOW,
                )
            )
        register_list.current_version = 1
        register_list.touch(NOW)
        db.session.commit()


def _changes_as_before(app: Flask, name: str | None = None, fields: tuple[str, ...] = _CHANGE_FIELDS) -> None:
    """Make stored changes (all, or those about ``name``) look as they did before: ``fields``
    of the old shape. Changes, unlike versions, may be updated, so they are rewritten here."""
    with app.app_context(), db.engine.begin() as connection:
        for row in connection.execute(sa.select(_CHANGES)):
            if name is not None and (row.proposed or row.base or {}).get("name") != name:
                continue
            connection.execute(
                _CHANGES.update()
                .where(_CHANGES.c.id == row.id)
                .values({field: _old_shape(getattr(row, field)) for field in fields})
            )


def _raw_snapshots(app: Flask) -> list[str]:
    with app.app_context(), db.engine.connect() as connection:
        return list(connection.scalars(_RAW))


def test_an_old_version_reads_as_a_list_and_diffs_without_a_spurious_change(
    app: Flask, client: FlaskClient, registry: Registry
) -> None:
    _published_as_before(
        app,
        registry,
        entry("AWS", locations=["DE", "US"], transfer_mechanisms=["scc"]),
        entry("Hetzner", locations=["DE"]),
    )
    before = _raw_snapshots(app)
    assert '"transfer_mechanism": "scc"' in before[0].replace('":"', '": "')

    # Version 2, announced and applied: AWS's purpose reworded (drafted against the old-shaped
    # version), an entry naming two mechanisms, and one whose announced change is stored as
    # before.
    aws = client.get("/processors.json").get_json()["processors"][0]
    registry.announce(
        SLUG,
        [
            ("update", "aws", {**aws, "purpose": "Hosting of the service."}),
            ("add", None, entry("Zoom", locations=["US"], transfer_mechanisms=["dpf", "scc"])),
            ("add", None, entry("Mailgun", locations=["US"], transfer_mechanisms=["scc"])),
        ],
        effective_at=NOW + timedelta(days=31),
    )
    _changes_as_before(app, "Mailgun")
    with app.app_context():
        email = preview_notice_email(db.session.scalars(sa.select(Notice)).one())
    assert "Transfer mechanisms: EU-US Data Privacy Framework, Standard Contractual Clauses" in email.text
    mailgun = email.text[email.text.index("Mailgun") :]
    assert "Transfer mechanisms: Standard Contractual Clauses\n" in mailgun  # read from the old shape
    assert "EU-US Data Privacy Framework, Standard Contractual Clauses" in email.html
    registry.apply_due(NOW + timedelta(days=32))

    diff = client.get("/processors/diff.json?from=1&to=2").get_json()
    assert sorted(e["id"] for e in diff["added"]) == ["mailgun", "zoom"]
    assert {e["id"]: e["transfer_mechanisms"] for e in diff["added"]} == {
        "mailgun": ["scc"],
        "zoom": ["dpf", "scc"],
    }
    assert [(e["id"], list(e["fields"])) for e in diff["changed"]] == [("aws", ["purpose"])]
    assert diff["removed"] == []
    page = client.get("/processors/diff?from=1&to=2").get_data(as_text=True)
    assert "EU-US Data Privacy Framework, Standard Contractual Clauses" in page
    assert "Transfer mechanism" not in page.split("Zoom", 1)[0]  # no changed mechanism shown

    # Time travel to version 1: today's shape, from bytes left as they were.
    old = client.get("/processors/versions/1.json").get_json()["processors"]
    assert [(e["id"], e["transfer_mechanisms"]) for e in old] == [("aws", ["scc"]), ("hetzner", ["none"])]
    assert all("transfer_mechanism" not in e for e in old)
    assert client.get("/processors/versions/1.csv").text.splitlines()[1].count(",scc,") == 1
    assert "Standard Contractual Clauses" in client.get("/processors/versions/1").get_data(as_text=True)
    assert _raw_snapshots(app)[0] == before[0]

    # The change log and the feed read the old-shaped changes too.
    feed = client.get("/processors/feed.atom").get_data(as_text=True)
    assert "Transfer mechanisms: EU-US Data Privacy Framework, Standard Contractual Clauses." in feed
    assert "Mailgun (United States). Purpose: Mailgun does things for us." in feed
    assert "Transfer mechanism: Standard Contractual Clauses." in feed
    log = client.get("/processors/changes").get_data(as_text=True)
    assert "Mailgun" in log and "Zoom" in log


def _draft_correction(app: Flask, mechanisms: list[str]) -> None:
    with app.app_context():
        register_list = services.get_list(db.session, SLUG)
        assert register_list is not None
        current = services.snapshot_of(db.session, register_list)[0]
        workflow.draft_change(
            db.session,
            register_list,
            ChangeAction.UPDATE,
            processor="aws",
            fields={
                **current,
                "purpose": "AWS does things for us, in Frankfurt.",
                "transfer_mechanisms": mechanisms,
            },
            now=NOW,
        )
        db.session.commit()


def _correct(app: Flask) -> str:
    with app.app_context():
        register_list = services.get_list(db.session, SLUG)
        assert register_list is not None
        drafts = services.drafts_of(db.session, register_list)
        notice = workflow.correct(db.session, register_list, drafts, reason="Wording.", now=NOW)
        db.session.commit()
        return str(notice.kind)


def test_a_correction_drafted_against_an_old_version_changes_no_mechanism(
    app: Flask, registry: Registry
) -> None:
    """The rule refusing another mechanism in a correction compares the lists, not the shapes."""
    _published_as_before(app, registry, entry("AWS", locations=["US"], transfer_mechanisms=["dpf"]))
    _draft_correction(app, ["dpf"])
    _changes_as_before(app, fields=("base",))  # drafted before: its base says "dpf", a string
    assert _correct(app) == "correction"


def test_the_same_mechanisms_in_another_order_are_a_correction(app: Flask, registry: Registry) -> None:
    registry.create_list()
    registry.publish(SLUG, entry("AWS", locations=["US"], transfer_mechanisms=["dpf", "scc"]))
    _draft_correction(app, ["scc", "dpf"])
    assert _correct(app) == "correction"


def test_another_mechanism_is_never_a_correction(app: Flask, registry: Registry) -> None:
    registry.create_list()
    registry.publish(SLUG, entry("AWS", locations=["US"], transfer_mechanisms=["dpf"]))
    _draft_correction(app, ["dpf", "scc"])
    with pytest.raises(ValidationError, match="alters its transfer mechanisms"):
        _correct(app)


def test_entry_fields_reads_both_shapes_through_one_function() -> None:
    new = entry("AWS", transfer_mechanisms=["scc"])
    old = _old_shape(new)
    assert old is not None and "transfer_mechanisms" not in old
    assert entry_fields(old) == new
    assert list(entry_fields(old)) == list(new)  # the field in its place
    assert entry_fields({**old, "transfer_mechanism": ""})["transfer_mechanisms"] == []
    assert entry_fields(new) is new
    assert json.dumps(old)  # still what was stored, untouched


def test_two_notices_about_one_entry_never_combine_no_transfer_with_a_mechanism() -> None:
    """A later notice drafted against the entry as it was merges into what it holds now; where
    that would put "none" next to a mechanism, the later change's own list stands."""
    base = entry("AWS", transfer_mechanisms=["dpf"])
    current = {**base, "transfer_mechanisms": ["dpf", "scc"]}  # another notice added SCCs
    merged = merge_update(current, base, {**base, "transfer_mechanisms": ["none"]})
    assert merged["transfer_mechanisms"] == ["none"]
    # Otherwise what each added or removed is kept.
    merged = merge_update(current, base, {**base, "transfer_mechanisms": ["dpf", "bcr"]})
    assert merged["transfer_mechanisms"] == ["dpf", "scc", "bcr"]
