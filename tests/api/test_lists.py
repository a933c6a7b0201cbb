"""Reading lists and their entries over the API, and who may."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.api.conftest import Api, set_list
from tests.conftest import Registry


def test_lists_and_one_list(api: Api, listed: Registry) -> None:
    listed.create_list("subcontractors", "Subcontractors", notice_period_days=14)

    lists = api.get("/lists").get_json()["lists"]
    assert [lst["slug"] for lst in lists] == ["sub-processors", "subcontractors"]

    one = api.get("/lists/sub-processors").get_json()
    assert one == lists[0]
    assert one["title"] == "Sub-processors" and one["version"] == 1 and one["updated_at"]
    assert one["notice_period_days"] == 30 and one["requires_approval"] is False
    empty = api.get("/lists/subcontractors").get_json()
    assert empty["version"] == 0 and empty["updated_at"] is None


def test_settings_changed_by_an_admin_show(api: Api, listed: Registry) -> None:
    set_list(listed.app, requires_approval=True, notice_period_days=45)
    one = api.get("/lists/sub-processors").get_json()
    assert one["requires_approval"] is True and one["notice_period_days"] == 45


def test_processors_are_the_public_entries(api: Api, listed: Registry, client: FlaskClient) -> None:
    answer = api.get("/lists/sub-processors/processors").get_json()
    public = client.get("/processors.json").get_json()
    assert answer == {"list": "sub-processors", "version": 1, "processors": public["processors"]}
    assert [p["id"] for p in answer["processors"]] == ["microsoft-azure", "twilio-sendgrid"]


def test_unknown_lists_are_404(api: Api, listed: Registry) -> None:
    for path in ("/lists/nope", "/lists/nope/processors", "/lists/nope/changes"):
        response = api.get(path)
        assert response.status_code == 404
        assert "nope" in response.get_json()["error"]["message"]
    assert api.post("/lists/nope/drafts", {"action": "retire", "target": "x"}).status_code == 404


def test_a_token_is_needed(api: Api, listed: Registry) -> None:
    anonymous = api.as_(None)
    for path in ("/lists", "/lists/sub-processors", "/lists/sub-processors/processors", "/audit"):
        response = anonymous.get(path)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["error"]["status"] == 401
    assert api.as_("prt_made-up").get("/lists").status_code == 401


def test_answers_are_never_cached(api: Api, listed: Registry) -> None:
    assert api.get("/lists").headers["Cache-Control"] == "no-store"


def test_a_wrong_method_is_405_with_allow(api: Api, listed: Registry) -> None:
    response = api.request("DELETE", "/lists/sub-processors")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "PATCH"}
    assert response.get_json()["error"]["status"] == 405
