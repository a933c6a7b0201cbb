"""Transfer mechanisms through the admin API: a list of codes in and out, the rules of the
service with their 422s, and the warning about a transfer out of the EEA without a mechanism,
in the answer's ``warnings``. Every answer is checked against the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.api.conftest import Api
from tests.conftest import Registry, entry

DRAFTS = "/lists/sub-processors/drafts"


def add(api: Api, **fields: Any) -> Any:
    return api.post(DRAFTS, {"action": "add", "processor": entry("Zoom", **fields)})


def update(api: Api, **fields: Any) -> Any:
    return api.post(DRAFTS, {"action": "update", "target": "twilio-sendgrid", "processor": fields})


def test_an_entry_with_two_mechanisms(api: Api, listed: Registry, client: FlaskClient) -> None:
    response = add(api, locations=["US"], transfer_mechanisms=["dpf", "scc"])
    assert response.status_code == 201, response.get_json()
    change = response.get_json()
    assert change["processor"]["transfer_mechanisms"] == ["dpf", "scc"]
    assert "transfer_mechanism" not in change["processor"]
    assert change["warnings"] == []

    public = client.get("/processors.json").get_json()["processors"]
    twilio = next(p for p in public if p["id"] == "twilio-sendgrid")
    assert twilio["transfer_mechanisms"] == ["dpf"] and "transfer_mechanism" not in twilio


def test_an_update_may_name_mechanisms_as_published_lists_write_them(api: Api, listed: Registry) -> None:
    response = update(api, transfer_mechanisms="EU-U.S. DPF and Standard Contractual Clauses (SCCs)")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["processor"]["transfer_mechanisms"] == ["dpf", "scc"]
    api.post(f"/changes/{response.get_json()['id']}/discard")
    # The field entries had before they could name several is still read.
    response = update(api, transfer_mechanism="BCRs")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["processor"]["transfer_mechanisms"] == ["bcr"]


def test_the_rules_are_the_service_s(api: Api, listed: Registry) -> None:
    for mechanisms, message in [
        (["none", "scc"], "cannot be combined with another mechanism"),
        (["scc", "SCCs"], "names Standard Contractual Clauses (scc) twice"),
        (["scc", "pigeon post"], "There is no transfer mechanism called 'pigeon post': use one of none"),
        ([], "at least one is required"),
        ([1], "must be a list of mechanism codes, or a text naming them"),
    ]:
        response = add(api, transfer_mechanisms=mechanisms)
        assert response.status_code == 422, mechanisms
        assert message in response.get_json()["error"]["fields"]["processor.transfer_mechanisms"]


def test_a_transfer_out_of_the_eea_without_a_mechanism_is_accepted_with_a_warning(
    api: Api, listed: Registry
) -> None:
    response = add(api, locations=["IE", "US", "IN"], transfer_mechanisms=["none"])
    assert response.status_code == 201
    change = response.get_json()
    assert len(change["warnings"]) == 1
    assert "Zoom processes outside the EEA (United States, India)" in change["warnings"][0]
    assert api.get(f"/changes/{change['id']}").get_json()["warnings"] == change["warnings"]

    # Announced: the notice carries its changes' warnings.
    notice = api.post(
        "/lists/sub-processors/notices",
        {"changes": [change["id"]], "reason": "Video calls.", "effective_at": "2099-01-01T00:00:00Z"},
    )
    assert notice.status_code == 201, notice.get_json()
    assert notice.get_json()["warnings"] == change["warnings"]


def test_within_the_eea_no_warning(api: Api, listed: Registry) -> None:
    response = add(api, locations=["DE", "NO", "LI"], transfer_mechanisms=["none"])
    assert response.status_code == 201 and response.get_json()["warnings"] == []
