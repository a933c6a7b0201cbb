"""Parity with the pages: corrections and a list's settings over the API, by the same core rules
(a correction cannot widen processing; four eyes where the list asks; admins set lists)."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.api.conftest import Api, People, set_list
from tests.conftest import Registry


def _public(client: FlaskClient) -> dict[str, dict[str, object]]:
    document = client.get("/processors.json").get_json()
    return {p["id"]: p for p in document["processors"]}


def test_a_correction_publishes_wording_at_once(api: Api, listed: Registry, client: FlaskClient) -> None:
    body = {
        "target": "microsoft-azure",
        "processor": {"website": "https://azure.example/dpa"},
        "reason": "Link.",
    }
    response = api.post("/lists/sub-processors/corrections", body)
    assert response.status_code == 201, response.get_json()
    notice = response.get_json()
    assert notice["kind"] == "correction" and notice["status"] == "published"
    assert notice["objection_deadline"] is None and notice["reason"] == "Link."
    assert response.headers["Location"] == f"/api/v1/notices/{notice['id']}"
    assert _public(client)["microsoft-azure"]["website"] == "https://azure.example/dpa"
    assert client.get("/processors.json").get_json()["version"] == 2


def test_a_correction_that_widens_processing_is_refused(
    api: Api, listed: Registry, client: FlaskClient
) -> None:
    for fields, named in [
        ({"locations": ["DE", "US"]}, "processing locations"),
        ({"data_categories": ["Email address", "Payment card data"]}, "categories of personal data"),
        ({"transfer_mechanisms": ["scc"]}, "transfer mechanism"),
    ]:
        body = {"target": "microsoft-azure", "processor": fields, "reason": "Typo."}
        response = api.post("/lists/sub-processors/corrections", body)
        assert response.status_code == 422
        message = response.get_json()["error"]["fields"]["changes"]
        assert named in message and "Announce it with notice instead" in message
    assert client.get("/processors.json").get_json()["version"] == 1
    assert api.get("/lists/sub-processors/changes?status=draft").get_json()["changes"] == []  # nothing kept


def test_a_correction_waits_for_a_second_person_where_the_list_asks(
    api: Api, listed: Registry, people: People, client: FlaskClient
) -> None:
    set_list(api.client.application, requires_approval=True)
    purpose = "Microsoft Azure does things for all of us."
    body = {"target": "microsoft-azure", "processor": {"purpose": purpose}, "reason": "Wording."}
    response = api.post("/lists/sub-processors/corrections", body)
    assert response.status_code == 202
    notice = response.get_json()
    assert notice["status"] == "pending_approval"
    assert _public(client)["microsoft-azure"]["purpose"] != purpose

    own = api.post(f"/notices/{notice['id']}/approve")
    assert own.status_code == 422 and "another person" in own.get_json()["error"]["fields"]["approval"]
    approved = api.as_(people["bob"]).post(f"/notices/{notice['id']}/approve")
    assert approved.status_code == 200 and approved.get_json()["status"] == "published"
    assert _public(client)["microsoft-azure"]["purpose"] == purpose


def test_bad_correction_requests_say_what_to_fix(api: Api, listed: Registry) -> None:
    path = "/lists/sub-processors/corrections"
    missing = api.post(path, {"processor": {"website": "https://x.example"}})
    assert missing.status_code == 422
    assert set(missing.get_json()["error"]["fields"]) >= {"target", "reason"}
    unknown = api.post(path, {"target": "nope", "processor": {"website": "https://x.example"}, "reason": "x"})
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["fields"] == {
        "target": "There is no current entry with the id 'nope'."
    }
    extra = api.post(path, {"target": "microsoft-azure", "processor": {}, "reason": "x", "when": "now"})
    assert extra.status_code == 422 and "when" in extra.get_json()["error"]["fields"]


def test_admins_change_a_lists_settings(api: Api, listed: Registry, people: People) -> None:
    admin = api.as_(people["carol"])
    path = "/lists/sub-processors"
    assert api.request("PATCH", path, json={"notice_period_days": 45}).status_code == 403  # editors may not
    changed = admin.request("PATCH", path, json={"notice_period_days": 45, "requires_approval": True})
    assert changed.status_code == 200
    settings = changed.get_json()
    assert settings["notice_period_days"] == 45 and settings["requires_approval"] is True
    assert settings["remind_on_effective"] is False  # what was not sent stays
    assert api.get(path).get_json()["notice_period_days"] == 45

    for body, field in [
        ({"notice_period_days": "45"}, "notice_period_days"),
        ({"requires_approval": "yes"}, "requires_approval"),
        ({"notice_period_days": 400}, "notice_period_days"),
        ({"title": ""}, "title"),
        ({"colour": "blue"}, "colour"),
        ({}, "settings"),
    ]:
        refused = admin.request("PATCH", path, json=body)
        assert refused.status_code == 422, body
        assert field in refused.get_json()["error"]["fields"], body
    assert admin.request("PATCH", "/lists/nope", json={"title": "x"}).status_code == 404


def test_settings_refuse_what_a_feed_or_email_cannot_show(api: Api, listed: Registry, people: People) -> None:
    admin = api.as_(people["carol"])
    for body in ({"title": "\x01\x02"}, {"title": "Sub\nprocessors"}, {"introduction": "Hello\x07"}):
        refused = admin.request("PATCH", "/lists/sub-processors", json=body)
        assert refused.status_code == 422, body
    assert api.get("/lists/sub-processors").get_json()["title"] == "Sub-processors"
