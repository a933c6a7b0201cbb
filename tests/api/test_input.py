"""Whatever a client sends, the answer is a JSON 4xx that says what to fix, and nothing is written:
bodies that are not JSON, not objects, not UTF-8, too deep, too big, or full of the wrong things."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from registry.audit.models import AuditEvent
from registry.extensions import db
from registry.lists.models import Change, Notice
from registry.timeutil import rfc3339, utcnow
from tests.api.conftest import Api
from tests.conftest import Registry, entry

JSON = "application/json"
HUGE = "x" * 300_000


def written(app: Flask) -> tuple[int, ...]:
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Change, Notice, AuditEvent)
        )


@pytest.fixture
def endpoints(api: Api, listed: Registry) -> list[str]:
    """Every API route that reads a body, with a notice to reject or withdraw."""
    later = rfc3339(utcnow() + timedelta(days=40))
    notice = api.post(
        "/lists/sub-processors/changes",
        {"action": "add", "processor": entry("Stripe"), "effective_at": later, "reason": "Payments."},
    ).get_json()["notice"]
    return [
        "/lists/sub-processors/drafts",
        "/lists/sub-processors/changes",
        "/lists/sub-processors/notices",
        f"/notices/{notice}/reject",
        f"/notices/{notice}/withdraw",
    ]


RAW_BODIES: list[tuple[bytes, str | None, int, str]] = [
    (b"not json", JSON, 400, "not-json"),
    (b"", JSON, 400, "empty"),
    (b'{"reason": "x"}', "text/plain", 400, "text-plain"),
    (b'{"reason": "x"}', None, 400, "no-content-type"),
    (b"reason=x", "application/x-www-form-urlencoded", 400, "form"),
    (b'{"reason": "\xff\xfe"}', JSON, 400, "invalid-utf8"),
    (b'\xef\xbb\xbf{"reason": "x"}', JSON, 400, "byte-order-mark"),
    (b'{"reason": NaN}', JSON, 400, "nan"),
    (b'{"reason": -Infinity}', JSON, 400, "infinity"),
    (b"[" * 50_000 + b"]" * 50_000, JSON, 400, "deep-array"),
    (b'{"a":' * 20_000 + b"1" + b"}" * 20_000, JSON, 400, "deep-object"),
    (b'{"reason": 1' + b"1" * 5000 + b"}", JSON, 400, "integer-too-long"),
    (b'{"reason": "x"', JSON, 400, "truncated"),
    (b"[]", JSON, 422, "array"),
    (b'"reason"', JSON, 422, "string"),
    (b"null", JSON, 422, "null"),
    (b"42", JSON, 422, "number"),
    (b"true", JSON, 422, "boolean"),
    (b'{"reason": "a\\u0000b"}', JSON, 422, "nul"),
    (b'{"reason": "\\ud800"}', JSON, 422, "lone-surrogate"),
    (b'{"\\u0000": 1}', JSON, 422, "nul-key"),
    (b'{"reason": 1e999}', JSON, 422, "huge-float"),
    (b'{"reason": "x", "reason": 5}', JSON, 422, "duplicate-key"),
    (b'{"reason": "' + b"x" * (1024 * 1024) + b'"}', JSON, 413, "too-big"),
]


def test_bodies_that_are_not_json_objects(api: Api, app: Flask, endpoints: list[str], subtests: Any) -> None:
    before = written(app)
    for raw, content_type, status, name in RAW_BODIES:
        with subtests.test(name):
            for path in endpoints:
                headers = {"Content-Type": content_type} if content_type else {}
                response = api.post(path, data=raw, headers=headers)
                assert response.status_code == status, (path, response.get_json())
                error = response.get_json()["error"]
                assert error["status"] == status and error["message"]
    assert written(app) == before


OPTIONAL = {
    "legal_entity",
    "data_categories",
    "corporate_location",
    "kind",
    "website",
    "safeguards_url",
    "scope",
    "since",
}
JUNK: list[Any] = [None, 5, 1.5, True, [], ["x"], {}, {"a": [1, {"b": None}]}, HUGE, "", " ", "\t=1+1"]


def acceptable(key: str, field: str | None, junk: Any) -> bool:
    """Junk that is valid after all: emptiness where a field may be empty, any line as a reason."""
    if field is not None:
        return field in OPTIONAL and junk in (None, "", " ", [], ["x"])
    return key == "reason" and isinstance(junk, str) and 0 < len(junk.strip()) <= 2000


def test_junk_in_every_member(api: Api, app: Flask, endpoints: list[str], subtests: Any) -> None:
    later = rfc3339(utcnow() + timedelta(days=40))
    valid = {
        "/lists/sub-processors/drafts": {"action": "add", "processor": entry("Adyen")},
        "/lists/sub-processors/changes": {
            "action": "add",
            "processor": entry("Adyen"),
            "effective_at": later,
            "reason": "x",
        },
        "/lists/sub-processors/notices": {"changes": [1], "effective_at": later, "reason": "x"},
    }
    before = written(app)
    announced = 0
    for junk in JUNK:
        with subtests.test(repr(junk)[:20]):
            for path in endpoints:
                body = valid.get(path, {"reason": "Because."})
                members = [(key, None) for key in body]
                members += [("processor", field) for field in body.get("processor", {})]
                for key, field in members:
                    sent = dict(body)
                    sent[key] = junk if field is None else {**body[key], field: junk}
                    response = api.post(path, sent)
                    if response.status_code == 201:
                        assert acceptable(key, field, junk), (path, key, field)
                        announced += path.endswith(("/changes", "/notices", "/withdraw"))
                        continue
                    assert 400 <= response.status_code < 500, (path, key, field, response.get_json())
                    if response.status_code == 422:
                        assert response.get_json()["error"]["fields"], (path, key, field)
    # No notice but for the requests accepted.
    assert written(app)[1] == before[1] + announced


def test_unicode_is_kept_as_written(api: Api, listed: Registry) -> None:
    name = "Zürich Daten AG 🇨🇭"
    response = api.post(
        "/lists/sub-processors/drafts", {"action": "add", "processor": entry(name, id="zurich")}
    )
    assert response.status_code == 201
    assert response.get_json()["processor"]["name"] == name
    assert "Zürich".encode() in response.data  # not escaped: names are shown as written


@pytest.mark.parametrize("field", ["website", "safeguards_url"])
@pytest.mark.parametrize("address", ["https://[::1", "http://[vendor.example/dpa", "https://]x[/"])
def test_an_address_python_cannot_split_is_a_422_naming_the_field(
    api: Api, listed: Registry, field: str, address: str
) -> None:
    response = api.post(
        "/lists/sub-processors/drafts", {"action": "add", "processor": entry("Stripe", **{field: address})}
    )
    assert response.status_code == 422, response.get_data(as_text=True)[:200]
    assert f"processor.{field}" in response.get_json()["error"]["fields"]
