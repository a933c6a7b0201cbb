"""The baseline for ``bench/pages.py``: a minimal Flask app that hands out bytes captured beforehand.

It runs in processes of its own, under gunicorn with the same workers as the real app, and knows
nothing of the registry: for each captured path it answers the same body, content type and ETag
(and a 304 when the client already has them), so the real app's figures are compared with what
serving those bytes costs at all, not with a route that pays the real app's own per-request costs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, Response, abort, request


def create_baseline_app() -> Flask:
    """Load the captured answers named by ``BENCH_BASELINE_FILE`` (a JSON manifest)."""
    manifest = Path(os.environ["BENCH_BASELINE_FILE"])
    answers: dict[str, tuple[bytes, str, str]] = {}
    for url, (body_file, content_type, etag) in json.loads(manifest.read_text()).items():
        answers[url] = (Path(body_file).read_bytes(), content_type, etag)
    app = Flask(__name__)

    @app.get("/", defaults={"path": ""})
    @app.get("/<path:path>")
    def serve(path: str) -> Response:
        url = request.full_path.rstrip("?")
        if url not in answers:
            abort(404)
        body, content_type, etag = answers[url]
        if etag and request.if_none_match.contains_weak(etag.strip('"')):
            return Response(status=304, headers={"ETag": etag})
        return Response(body, content_type=content_type, headers={"ETag": etag})

    return app
