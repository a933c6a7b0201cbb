"""Personal data as a file to save: the answer to a subject access request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response

__all__ = ["json_download"]


def json_download(data: Mapping[str, Any], filename: str) -> Response:
    """``data`` as a JSON file to save: indented, UTF-8, never cached (it is personal data)."""
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2) + "\n",
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
