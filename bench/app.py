"""The real application plus a baseline route, served by gunicorn for ``bench/pages.py`` only.

The baseline answers with the bytes the real endpoint rendered at start-up, through the same app,
hooks, worker and server, so the difference between the two is exactly what the real request path
does beyond handing out bytes. It is never registered in the production app: only this module adds it.
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort

from registry import create_app

# Baseline name -> real path whose body (and content type) it serves.
BASELINE_SOURCES: dict[str, str] = {
    "processors": "/processors",
    "processors.json": "/processors.json",
}


def create_bench_app() -> Flask:
    """Build the real app on the bench's instance folder and add ``/_baseline/<name>``.

    Called by gunicorn in each worker (``bench.app:create_bench_app()``), not at import time.
    Settings come from the environment like in production (``FLASK_SECRET_KEY``,
    ``FLASK_SQLALCHEMY_DATABASE_URI``); ``BENCH_INSTANCE_PATH`` keeps the instance folder in the
    bench's temporary directory so a developer's ``instance/config.py`` is not read.
    """
    app = create_app(instance_path=os.environ["BENCH_INSTANCE_PATH"])
    captured: dict[str, tuple[bytes, str]] = {}

    def baseline(name: str) -> Response:
        if name not in captured:
            abort(404)
        body, content_type = captured[name]
        return Response(body, content_type=content_type)

    # Routes must exist before the app handles its first request, so register before capturing.
    app.add_url_rule("/_baseline/<name>", "bench_baseline", baseline)
    client = app.test_client()
    for name, path in BASELINE_SOURCES.items():
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status} while capturing the baseline")
        captured[name] = (response.get_data(), response.content_type)
    return app
