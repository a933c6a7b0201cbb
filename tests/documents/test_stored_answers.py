"""A document's public answers are stored for every worker, like a list's."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from registry.caching import RenderCache
from tests.documents.conftest import SLUG, Documents

URLS = [
    f"/documents/{SLUG}",
    f"/documents/{SLUG}/revisions",
    f"/documents/{SLUG}/diff.txt?from=1&to=2",
    f"/documents/{SLUG}/feed.atom",
]


@pytest.mark.parametrize("url", URLS)
def test_another_worker_serves_the_stored_bytes(
    two_revisions: Documents, app: Flask, app_factory: Callable[..., Flask], url: str
) -> None:
    first = app.test_client().get(url)
    assert first.status_code == 200
    other = app_factory()
    again = other.test_client().get(url)
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    cache: RenderCache = other.extensions["render_cache"]
    assert cache.renders == 0
