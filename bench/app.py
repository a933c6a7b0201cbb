"""The real application, served by gunicorn for ``bench/pages.py`` only.

Settings come from the environment like in production (``FLASK_SECRET_KEY``,
``FLASK_SQLALCHEMY_DATABASE_URI``); ``BENCH_INSTANCE_PATH`` keeps the instance folder in the
bench's temporary directory so a developer's ``instance/config.py`` is not read. What it is
compared with runs in other processes (``bench/baseline.py``).
"""

from __future__ import annotations

import os

from flask import Flask

from registry import create_app


def create_bench_app() -> Flask:
    """Called by gunicorn in each worker (``bench.app:create_bench_app()``), not at import time."""
    return create_app(instance_path=os.environ["BENCH_INSTANCE_PATH"])
