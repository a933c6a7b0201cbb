"""The change workflow over the API: draft, announce, four eyes, short notice, withdrawal,
conflicts, validation, and nothing half-written when a request fails."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from registry.lists.fields import TRANSFER_MECHANISMS
from registry.timeutil import rfc3339, utcnow
from tests.api.conftest import Api, People, set_list
from tests.conftest import Registry, entry


def days(n: float) -> str:
    return rfc3339(utcnow() + timedelta(days=n))


def addition(name: str = "Stripe", **overrides: Any) -> dict[str, Any]:
    return {
        "action": "add",
        "processor": entry(name, locations=["IE", "US"], transfer_mechanisms=["dpf"]),
        "effective_at": days(45),
        "reason": f"{name} will process payments.",
        **overrides,
    }


def upcoming(client: FlaskClient) -> list[dict[str, Any]]:
    return client.get("/processors.json").get_json()["upcoming"]


def statuses(api: Api, status: str) -> list[int]:
    return [
        change["id"]
        for change in api.get(f"/lists/sub-processors/changes?status={status}").get_json()["changes"]
    ]


def test_announcing_a_change_in_one_call(api: Api, listed: Registry, client: FlaskClient) -> None:
    response = api.post("/lists/sub-processors/changes", addition())
    assert response.status_code == 201
    change = response.get_json()
    assert change["status"] == "announced" and change["action"] == "add"
    assert change["processor"]["id"] == "stripe" and change["target"] is None
    assert change["author"] == "alice@example.com" and change["notice"]
    assert response.headers["Location"] == f"/api/v1/changes/{change['id']}"
    assert api.get(f"/changes/{change['id']}").get_json() == change

    public = upcoming(client)
    assert [(u["id"], u["action"], u["processor"]["name"]) for u in public] == [
        (change["id"], "add", "Stripe")
    ]
    assert public[0]["effective_at"] == change["effective_at"]

    notice = api.get(f"/notices/{change['notice']}").get_json()
    assert notice["status"] == "published" and notice["kind"] == "announcement"
    assert notice["reason"] == "Stripe will process payments." and notice["announced_at"]
    assert notice["objection_deadline"] < notice["effective_at"]
    assert [c["id"] for c in notice["changes"]] == [change["id"]]
    assert statuses(api, "announced") == [change["id"]]

    # At the effective date the scheduler applies it: a new version, with before and after.
    listed.apply_due(utcnow() + timedelta(days=46))
    applied = api.get("/lists/sub-processors/changes?status=applied").get_json()["changes"]
    assert applied[0]["id"] == change["id"] and applied[0]["version"] == 2
    assert applied[0]["before"] is None and applied[0]["after"]["id"] == "stripe" and applied[0]["applied_at"]
    assert "stripe" in [p["id"] for p in api.get("/lists/sub-processors/processors").get_json()["processors"]]


def test_kinds_and_mechanisms_are_read_from_their_labels(api: Api, listed: Registry) -> None:
    processor = entry("Stripe", locations=["IE"], transfer_mechanisms=["EU-U.S. DPF"], kind="Sub-processor")
    response = api.post("/lists/sub-processors/changes", addition(processor=processor))
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()["processor"]
    assert (stored["transfer_mechanisms"], stored["kind"]) == (["dpf"], "subprocessor")


def test_update_retire_and_replace(api: Api, listed: Registry, client: FlaskClient) -> None:
    # An update names its entry in processor.id and sends only what changes.
    update = {"action": "update", "processor": {"id": "microsoft-azure", "purpose": "Cloud hosting."}}
    response = api.post(
        "/lists/sub-processors/changes", {**update, "effective_at": days(40), "reason": "Scope."}
    )
    assert response.status_code == 201, response.get_json()
    changed = response.get_json()
    assert changed["target"] == "microsoft-azure"
    assert changed["processor"]["purpose"] == "Cloud hosting."
    assert changed["processor"]["name"] == "Microsoft Azure"  # the rest is as it was

    retire = {
        "action": "retire",
        "processor": {"id": "twilio-sendgrid"},
        "effective_at": days(40),
        "reason": "Gone.",
    }
    retired = api.post("/lists/sub-processors/changes", retire).get_json()
    assert retired["status"] == "announced" and retired["processor"]["name"] == "Twilio SendGrid"

    # The next change to that entry must wait: it is already announced to be retired.
    again = api.post(
        "/lists/sub-processors/drafts",
        {"action": "replace", "replaces": "twilio-sendgrid", "processor": entry("Mailgun")},
    )
    assert (
        again.status_code == 409 and "already announced to be retired" in again.get_json()["error"]["message"]
    )
    assert again.get_json()["error"]["current"]["status"] == "announced"

    assert {u["action"] for u in upcoming(client)} == {"update", "retire"}


def test_replace_names_the_replaced_entry(api: Api, listed: Registry, client: FlaskClient) -> None:
    body = {
        "action": "replace",
        "replaces": "twilio-sendgrid",
        "processor": entry("Mailgun", locations=["US"], transfer_mechanisms=["dpf"]),
        "effective_at": days(31),
        "reason": "Email moves to Mailgun.",
    }
    change = api.post("/lists/sub-processors/changes", body).get_json()
    assert change["status"] == "announced" and change["target"] == "twilio-sendgrid"
    assert change["processor"]["id"] == "mailgun"
    assert upcoming(client)[0]["replaces"] == "twilio-sendgrid"


def test_four_eyes(api: Api, listed: Registry, people: People, client: FlaskClient) -> None:
    set_list(listed.app, requires_approval=True)
    response = api.post("/lists/sub-processors/changes", addition())
    assert response.status_code == 201
    change = response.get_json()
    assert change["status"] == "pending_approval" and change["effective_at"]
    assert upcoming(client) == []  # nothing public until a second editor approves

    notice_id = change["notice"]
    pending = api.get(f"/notices/{notice_id}").get_json()
    assert pending["status"] == "pending_approval" and pending["announced_at"] is None

    own = api.post(f"/notices/{notice_id}/approve")
    assert own.status_code == 422
    assert "another person must approve it" in own.get_json()["error"]["fields"]["approval"]

    approved = api.as_(people["bob"]).post(f"/notices/{notice_id}/approve")
    assert approved.status_code == 200
    notice = approved.get_json()
    assert notice["status"] == "published" and notice["approver"] == "bob@example.com"
    assert notice["author"] == "alice@example.com"
    assert notice["changes"][0]["status"] == "announced"
    assert [u["id"] for u in upcoming(client)] == [change["id"]]

    # Approving it again is a conflict with where it stands now.
    again = api.as_(people["bob"]).post(f"/notices/{notice_id}/approve")
    assert again.status_code == 409 and again.get_json()["error"]["current"]["status"] == "published"


def test_rejection_sends_changes_back_to_draft(api: Api, listed: Registry, people: People) -> None:
    set_list(listed.app, requires_approval=True)
    change = api.post("/lists/sub-processors/changes", addition()).get_json()
    bob = api.as_(people["bob"])
    assert bob.post(f"/notices/{change['notice']}/reject", {}).get_json()["error"]["fields"] == {
        "reason": "is required"
    }
    rejected = bob.post(f"/notices/{change['notice']}/reject", {"reason": "Wrong legal entity."})
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    assert api.get(f"/changes/{change['id']}").get_json()["status"] == "draft"
    assert statuses(api, "draft") == [change["id"]]


def test_short_notice_needs_a_reason(api: Api, listed: Registry, client: FlaskClient) -> None:
    early = api.post("/lists/sub-processors/changes", addition(effective_at=days(5)))
    assert early.status_code == 422
    assert "notice period is 30 days" in early.get_json()["error"]["fields"]["effective_at"]

    response = api.post(
        "/lists/sub-processors/changes",
        addition(effective_at=days(5), short_notice_reason="Our payment provider is shutting down."),
    )
    assert response.status_code == 201
    notice = api.get(f"/notices/{response.get_json()['notice']}").get_json()
    assert notice["short_notice_reason"] == "Our payment provider is shutting down."
    assert upcoming(client)[0]["short_notice"] == "Our payment provider is shutting down."

    past = api.post("/lists/sub-processors/changes", addition("Adyen", effective_at=days(-1)))
    assert past.get_json()["error"]["fields"] == {"effective_at": "The effective date must be in the future."}


def test_withdrawal(api: Api, listed: Registry, client: FlaskClient) -> None:
    change = api.post("/lists/sub-processors/changes", addition()).get_json()
    assert api.post(f"/notices/{change['notice']}/withdraw", {"reason": ""}).status_code == 422

    response = api.post(f"/notices/{change['notice']}/withdraw", {"reason": "We chose another provider."})
    assert response.status_code == 201
    withdrawal = response.get_json()
    assert withdrawal["kind"] == "withdrawal" and withdrawal["withdraws"] == change["notice"]
    assert response.headers["Location"] == f"/api/v1/notices/{withdrawal['id']}"
    assert api.get(f"/changes/{change['id']}").get_json()["status"] == "withdrawn"
    assert upcoming(client) == []
    assert statuses(api, "withdrawn") == [change["id"]]

    twice = api.post(f"/notices/{change['notice']}/withdraw", {"reason": "Again."})
    assert twice.status_code == 409 and twice.get_json()["error"]["current"]["status"] == "published"


def test_a_second_draft_of_an_entry_is_a_conflict(api: Api, listed: Registry, people: People) -> None:
    first = api.post(
        "/lists/sub-processors/drafts",
        {"action": "update", "target": "microsoft-azure", "processor": {"scope": "EU customers."}},
    )
    assert first.status_code == 201
    draft = first.get_json()
    assert draft["status"] == "draft" and draft["notice"] is None and draft["effective_at"] is None

    bob = api.as_(people["bob"])
    for path, body in (
        ("/lists/sub-processors/drafts", {"action": "retire", "target": "microsoft-azure"}),
        (
            "/lists/sub-processors/changes",
            {"action": "retire", "target": "microsoft-azure", "effective_at": days(40), "reason": "Gone."},
        ),
    ):
        response = bob.post(path, body)
        assert response.status_code == 409
        error = response.get_json()["error"]
        assert "alice@example.com" in error["message"]
        assert error["current"]["id"] == draft["id"] and error["current"]["author"] == "alice@example.com"
    assert statuses(api, "draft") == [draft["id"]]  # nothing of bob's was kept


def test_drafts_announced_together_and_discarded(api: Api, listed: Registry) -> None:
    stripe = api.post(
        "/lists/sub-processors/drafts", {"action": "add", "processor": entry("Stripe")}
    ).get_json()
    adyen = api.post(
        "/lists/sub-processors/drafts", {"action": "add", "processor": entry("Adyen")}
    ).get_json()
    extra = api.post(
        "/lists/sub-processors/drafts", {"action": "retire", "processor": {"id": "twilio-sendgrid"}}
    ).get_json()
    assert statuses(api, "draft") == [extra["id"], adyen["id"], stripe["id"]]

    discarded = api.post(f"/changes/{extra['id']}/discard")
    assert discarded.status_code == 200 and discarded.get_json()["status"] == "discarded"
    assert api.post(f"/changes/{extra['id']}/discard").status_code == 409

    body = {
        "changes": [stripe["id"], adyen["id"]],
        "effective_at": days(60),
        "reason": "Two payment providers.",
    }
    response = api.post("/lists/sub-processors/notices", body)
    assert response.status_code == 201
    notice = response.get_json()
    assert [c["id"] for c in notice["changes"]] == [stripe["id"], adyen["id"]]
    assert {c["status"] for c in notice["changes"]} == {"announced"}

    again = api.post("/lists/sub-processors/notices", body)
    assert again.status_code == 409 and "announced, not draft" in again.get_json()["error"]["message"]
    missing = api.post("/lists/sub-processors/notices", {**body, "changes": [999]})
    assert missing.get_json()["error"]["fields"] == {"changes": "There is no change 999."}


def test_unknown_changes_and_notices_are_404(api: Api, listed: Registry) -> None:
    for path in ("/changes/999", "/notices/999", f"/notices/{2**40}", f"/changes/{2**70}"):
        assert api.get(path).status_code == 404, path
    assert api.post("/notices/999/approve").status_code == 404
    assert api.post("/notices/999/withdraw", {"reason": "x"}).status_code == 404
    assert api.post("/changes/0/discard").status_code == 404


def test_each_invalid_field_has_a_message(api: Api, listed: Registry) -> None:
    body = {
        "action": "add",
        "processor": {
            "name": "",
            "locations": ["XX"],
            "transfer_mechanisms": ["pigeon"],
            "website": "ftp://x",
            "colour": "red",
        },
        "effective_at": "next tuesday",
    }
    response = api.post("/lists/sub-processors/changes", body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert set(error["fields"]) == {"effective_at", "reason"}  # the request's own shape comes first
    assert error["fields"]["effective_at"].startswith("must be an RFC 3339 timestamp")

    response = api.post("/lists/sub-processors/changes", {**body, "effective_at": days(45), "reason": "New."})
    fields = response.get_json()["error"]["fields"]
    assert fields == {
        "processor": "Remove the unknown field(s): colour.",
        "processor.name": "Enter the name of the processor, for example 'Stripe'.",
        "processor.purpose": "Enter the purpose: what the processor does with the data, for example "
        "'Payment processing'.",
        "processor.locations": "There is no country called 'XX': enter a country's name, for example "
        "Germany, or its ISO code, for example DE.",
        "processor.transfer_mechanisms": "There is no transfer mechanism called 'pigeon': use one of "
        + ", ".join(f"{code} ({label})" for code, label in TRANSFER_MECHANISMS.items())
        + ".",
        "processor.website": "Enter the website as an address starting with https:// (or http://).",
    }


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"action": "must be one of: add, update, retire, replace"}),
        ({"action": "rename"}, {"action": "must be one of: add, update, retire, replace"}),
        ({"action": "add"}, {"processor": "is required"}),
        ({"action": "add", "processor": []}, {"processor": "must be an object with the processor's fields"}),
        (
            {"action": "retire", "target": "microsoft-azure", "processor": None},
            {"processor": "must be an object with the processor's fields"},
        ),
        (
            {"action": "add", "processor": {}, "target": "x"},
            {"target": "an addition changes no existing entry: leave this out"},
        ),
        (
            {"action": "update", "processor": {"purpose": "x"}},
            {"target": "name the entry to update: give target, or processor.id"},
        ),
        (
            {"action": "update", "target": "a", "processor": {"id": "b"}},
            {"processor.id": "must match target (both name the entry to update)"},
        ),
        (
            {"action": "update", "target": "nope", "processor": {"purpose": "x"}},
            {"target": "There is no current entry with the id 'nope'."},
        ),
        (
            {"action": "update", "target": "microsoft-azure", "processor": {}},
            {"processor": "Nothing differs from the current entry."},
        ),
        (
            {"action": "update", "target": "microsoft-azure", "processor": {"name": 7}},
            {"processor.name": "Name must be text."},
        ),
        ({"action": "retire", "target": "nope"}, {"target": "There is no current entry with the id 'nope'."}),
        (
            {"action": "retire", "processor": {"id": "microsoft-azure", "name": "x"}},
            {"processor": "a retirement takes only the id of the entry to retire"},
        ),
        ({"action": "retire", "target": 5}, {"target": "must be text"}),
        (
            {"action": "retire", "target": "x", "replaces": "y"},
            {"replaces": "only a replacement replaces an entry; name the entry to retire in target"},
        ),
        ({"action": "replace", "processor": entry("Mailgun")}, {"replaces": "name the entry to replace"}),
        (
            {"action": "replace", "replaces": "a", "target": "b", "processor": entry("Mailgun")},
            {"replaces": "must match target (name the replaced entry once)"},
        ),
        (
            {"action": "add", "processor": entry("Azure", id="microsoft-azure")},
            {"processor.id": "The list already has an entry with the id 'microsoft-azure'."},
        ),
        (
            {"action": "add", "processor": entry("Stripe"), "effective_at": "2030-01-01T00:00:00Z"},
            {"effective_at": "is not a field of this request"},
        ),
    ],
)
def test_draft_requests_that_do_not_fit(
    api: Api, listed: Registry, body: dict[str, Any], fields: dict[str, str]
) -> None:
    response = api.post("/lists/sub-processors/drafts", body)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == fields
    assert statuses(api, "draft") == []


def test_a_failed_announcement_leaves_no_draft(api: Api, listed: Registry, people: People) -> None:
    # The draft is valid; the announcement is not (too early): neither is kept.
    response = api.post("/lists/sub-processors/changes", addition(effective_at=days(3)))
    assert response.status_code == 422
    assert {c["status"] for c in api.get("/lists/sub-processors/changes").get_json()["changes"]} == {
        "applied"
    }
    assert api.as_(people["carol"]).get("/audit?actor=alice").get_json()["events"] == []
    # The entry it was about is free for the next request.
    assert api.post("/lists/sub-processors/changes", addition()).status_code == 201
