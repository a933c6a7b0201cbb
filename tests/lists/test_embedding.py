"""Embedding the list: only the embeddable view may be framed, only by FRAME_ANCESTORS, and the
setting is checked at start."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from registry.config import ConfigurationError
from tests.conftest import NOW, Registry, entry, make_app

INTRANET = "https://intranet.customer.example"
PARTNER = "https://partner.example:8443"
EMBEDS = ["/processors/embed", "/lists/sub-processors/embed"]
# Pages that are never framed, whatever the setting says.
OTHERS = [
    "/",
    "/processors",
    "/processors.json",
    "/processors/changes",
    "/sign-in",
    "/lists/sub-processors/embed/x",
]


def _ancestors(policy: str) -> str:
    [directive] = [part.strip() for part in policy.split(";") if part.strip().startswith("frame-ancestors")]
    return directive


@pytest.fixture
def framed(app_factory: Callable[..., Flask]) -> Flask:
    app = app_factory(FRAME_ANCESTORS=[INTRANET, "HTTPS://Partner.example:8443"])
    registry = Registry(app)
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure", website="https://azure.example"))
    registry.announce(
        "sub-processors",
        [("add", None, entry("Stripe", locations=["US"]))],
        effective_at=NOW + timedelta(days=45),
    )
    return app


@pytest.fixture
def unframed(app: Flask, registry: Registry) -> Flask:
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"))
    return app


@pytest.mark.parametrize("url", EMBEDS)
def test_the_embed_view_frames_from_the_configured_origins_only(framed: Flask, url: str) -> None:
    response = framed.test_client().get(url)
    assert response.status_code == 200
    assert _ancestors(response.headers["Content-Security-Policy"]) == f"frame-ancestors {INTRANET} {PARTNER}"
    # X-Frame-Options cannot say "these origins": it is left out where some may frame.
    assert "X-Frame-Options" not in response.headers
    # The rest of the policy is the same as everywhere.
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("url", OTHERS)
def test_every_other_page_refuses_framing(framed: Flask, url: str) -> None:
    response = framed.test_client().get(url)
    assert _ancestors(response.headers["Content-Security-Policy"]) == "frame-ancestors 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("url", EMBEDS)
def test_without_the_setting_nothing_is_framed(unframed: Flask, url: str) -> None:
    response = unframed.test_client().get(url)
    assert response.status_code == 200
    assert _ancestors(response.headers["Content-Security-Policy"]) == "frame-ancestors 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_embed_view_has_no_chrome(framed: Flask) -> None:
    page = framed.test_client().get("/processors/embed").get_data(as_text=True)
    for chrome in ("<header", "<footer", "<nav", "<form", "site-header", "Sign in", "Subscribe"):
        assert chrome not in page
    # The entries, the upcoming changes, and the way to the permanent page, outside the frame.
    assert "Microsoft Azure" in page
    assert 'id="upcoming-heading"' in page and "Stripe" in page
    assert '<a href="https://registry.example/processors" target="_top">Full list and history</a>' in page
    links = re.findall(r"<a [^>]*>", page)
    assert links and all('target="_top"' in link for link in links)


def test_the_embed_view_revalidates(framed: Flask) -> None:
    client = framed.test_client()
    first = client.get("/processors/embed")
    again = client.get("/processors/embed", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert "X-Frame-Options" not in again.headers
    assert client.get("/lists/no-such-list/embed").status_code == 404


@pytest.mark.parametrize(
    "value",
    [
        ["http://intranet.customer.example"],
        ["https://intranet.customer.example/"],
        ["https://intranet.customer.example/page"],
        ["https://*.customer.example"],
        ["'self'"],
        ["*"],
        ["https://intranet.customer.example; script-src *"],
        ["https://intranet.customer.example:99999"],
        [42],
        42,
    ],
)
def test_an_invalid_setting_is_refused_at_start(db_url: str, tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigurationError, match="FRAME_ANCESTORS"):
        make_app(db_url, tmp_path, FRAME_ANCESTORS=value)


def test_the_setting_may_be_a_string_from_the_environment(
    app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_FRAME_ANCESTORS", f"{INTRANET}, https://partner.example:443")
    assert app_factory().config["FRAME_ANCESTORS"] == [INTRANET, "https://partner.example"]
    monkeypatch.setenv("FLASK_FRAME_ANCESTORS", f'["{INTRANET}"]')  # JSON, as from_prefixed_env reads it
    assert app_factory().config["FRAME_ANCESTORS"] == [INTRANET]
