"""Benchmark: how long WeasyPrint takes over a version's PDF annex, in process, on SQLite.

An annex is rendered once per installation and then served from the store (``registry.rendered``),
so what matters is the first, cold request: the reader who asks first waits for it. This prints,
for the demo's current version and for a version of ``--entries`` realistic entries (those of
``bench/pages.py``): the first request's time (WeasyPrint loaded in that process for the demo's),
the layout alone (best of ``--repeat``), the number of pages and the size. A version longer than
``ANNEX_INLINE_MAX_ENTRIES`` is answered 503 at first: then the scheduler's job is timed, and the
request after it. A measurement, so it always exits 0.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pages import realistic_entries  # noqa: E402
from registry import create_app  # noqa: E402
from registry.database import upgrade_schema  # noqa: E402
from registry.extensions import db  # noqa: E402
from registry.lists import annex, jobs, services, workflow  # noqa: E402
from registry.lists.models import ChangeAction  # noqa: E402


def seconds(work: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def pages(pdf: bytes) -> str:
    """Pages in ``pdf``, as poppler's ``pdfinfo`` counts them (WeasyPrint compresses its objects)."""
    if shutil.which("pdfinfo") is None:
        return "?"
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=False, timeout=60)
    found = re.search(rb"^Pages:\s+(\d+)", info.stdout, re.MULTILINE)
    return found.group(1).decode() if found else "?"


def measure(app: Flask, slug: str, url: str, repeat: int, label: str) -> None:
    client = app.test_client()
    first, response = seconds(lambda: client.get(url))
    made = ""
    if response.status_code == 503:
        # Longer than ANNEX_INLINE_MAX_ENTRIES: the scheduler's job lays it out, not the request.
        with app.app_context():
            job, count = seconds(jobs.prepare_annexes)
        # Newest first: this version, then older ones still missing (the demo's), up to the bound.
        made = f" (503 in {first * 1000:.0f} ms; one job run laid out {count} annexes with it in {job:.2f} s)"
        first, response = seconds(lambda: client.get(url))
    assert response.status_code == 200, response.status_code
    pdf = response.data
    with app.app_context():
        register_list = services.get_list(db.session, slug)
        assert register_list is not None
        version = services.latest_version(db.session, register_list)
        assert version is not None
        layouts = []
        for _ in range(repeat):
            with app.test_request_context():
                layouts.append(seconds(lambda: annex.version_pdf(register_list, version))[0])
        count = len(version.snapshot)
    again, _ = seconds(lambda: client.get(url))
    print(
        f"{label}: {count} entries, {pages(pdf)} pages, {len(pdf) / 1024:.0f} KiB; "
        f"first request {first:.2f} s{made}, layout alone {min(layouts):.2f} s (best of {repeat}), "
        f"served again {again * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=3000, help="entries in the long list (default 3000)")
    parser.add_argument("--repeat", type=int, default=3, help="layouts of each annex (default 3)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        settings = {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/registry.sqlite",
            "PUBLIC_BASE_URL": "https://registry.example",
            "QUIET_LOGS": True,
        }
        app = create_app(settings, instance_path=folder)
        with app.app_context():
            upgrade_schema()
        assert app.test_cli_runner().invoke(args=["demo"]).exit_code == 0
        measure(app, "sub-processors", "/processors/versions/5.pdf", args.repeat, "demo list")

        now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        with app.app_context():
            register_list = services.create_list(db.session, slug="long", title="Long list", now=now)
            changes = [
                workflow.draft_change(db.session, register_list, ChangeAction.ADD, fields=entry, now=now)
                for entry in realistic_entries(args.entries)
            ]
            workflow.publish_first_version(db.session, register_list, changes, reason="Bench.", now=now)
            db.session.commit()
        measure(app, "long", "/lists/long/versions/1.pdf", args.repeat, f"{args.entries}-entry list")


if __name__ == "__main__":
    main()
