"""The audit trail over the API: admins only, filtered, and every API action in it under the
token user's address."""

from __future__ import annotations

from datetime import timedelta

import pytest

from registry.timeutil import rfc3339, utcnow
from tests.api.conftest import Api, People
from tests.conftest import Registry, entry


@pytest.fixture
def admin(api: Api, people: People) -> Api:
    return api.as_(people["carol"])


def test_editors_may_not_read_the_audit_trail(api: Api) -> None:
    response = api.get("/audit")
    assert response.status_code == 403
    assert response.get_json()["error"]["message"] == "This needs the admin role."


def test_api_actions_are_audited_with_the_token_user(
    api: Api, admin: Api, listed: Registry, people: People
) -> None:
    later = rfc3339(utcnow() + timedelta(days=40))
    change = api.post(
        "/lists/sub-processors/changes",
        {"action": "add", "processor": entry("Stripe"), "effective_at": later, "reason": "Payments."},
    ).get_json()
    api.as_(people["bob"]).post(f"/notices/{change['notice']}/withdraw", {"reason": "Not now."})

    events = admin.get("/audit?limit=500").get_json()["events"]
    mine = [(e["action"], e["actor"]) for e in events if e["actor"] != "system"]
    assert mine[:3] == [
        ("notice.withdraw", "bob@example.com"),
        ("notice.announce", "alice@example.com"),
        ("change.draft", "alice@example.com"),
    ]
    announce = next(e for e in events if e["action"] == "notice.announce")
    assert announce["target_type"] == "notice" and announce["target_id"] == str(change["notice"])
    assert announce["summary"] == "Payments." and announce["ip"] == "127.0.0.1"
    assert announce["after"]["changes"][0]["id"] == change["id"]


def test_filters_and_pages(api: Api, admin: Api, listed: Registry) -> None:
    for name in ("Stripe", "Adyen", "Mollie"):
        api.post("/lists/sub-processors/drafts", {"action": "add", "processor": entry(name)})

    drafts = admin.get("/audit?action=change.draft&actor=alice").get_json()
    assert [e["summary"] for e in drafts["events"]] == [
        "New sub-processor: Mollie (Germany)",
        "New sub-processor: Adyen (Germany)",
        "New sub-processor: Stripe (Germany)",
    ]
    assert (drafts["limit"], drafts["offset"]) == (100, 0)
    page = admin.get("/audit?action=change.draft&actor=alice&limit=1&offset=1").get_json()
    assert [e["summary"] for e in page["events"]] == ["New sub-processor: Adyen (Germany)"]

    today = utcnow().date()
    assert len(admin.get(f"/audit?actor=alice&since={today}&until={today}").get_json()["events"]) == 3
    tomorrow = today + timedelta(days=1)
    assert admin.get(f"/audit?actor=alice&since={tomorrow}").get_json()["events"] == []
    an_hour_ago = rfc3339(utcnow() - timedelta(hours=1)).replace("+", "%2B")
    assert len(admin.get(f"/audit?actor=alice&since={an_hour_ago}").get_json()["events"]) == 3
    assert admin.get(f"/audit?actor=alice&until={an_hour_ago}").get_json()["events"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("limit=%D9%A3", "limit"),  # an Arabic-Indic three: int() would take it, we do not
        ("offset=-1", "offset"),
        ("offset=99999999999999999999", "offset"),
        ("since=yesterday", "since"),
        ("since=", "since"),
        ("since=2027-02-30", "since"),
        ("until=9999-12-31", "until"),  # the day after cannot be represented
        ("until=2027-01-10T00:00:00", "until"),  # no offset: refused, not guessed
        ("since=0001-01-01T00:00:00%2B01:00", "since"),
    ],
)
def test_bad_filters_are_422(admin: Api, query: str, field: str) -> None:
    response = admin.get(f"/audit?{query}")
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == [field]
