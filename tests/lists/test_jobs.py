"""Applying announced changes on time: by `run-jobs`, and by the real scheduler."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskCliRunner

from registry import scheduler
from registry.extensions import db
from registry.lists import jobs, services
from tests.conftest import Registry, entry


def _list_with_due_notice(registry: Registry) -> None:
    now = datetime.now(UTC)
    registry.create_list(now=now - timedelta(days=60))
    registry.publish("sub-processors", entry("Microsoft Azure"), now=now - timedelta(days=60))
    registry.announce(
        "sub-processors",
        [("add", None, entry("Stripe"))],
        effective_at=now - timedelta(minutes=1),
        now=now - timedelta(days=31),
    )


def _current_version(app: Flask) -> int:
    with app.app_context():
        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        return register_list.current_version


def test_run_jobs_applies_due_changes_once(runner: FlaskCliRunner, registry: Registry, app: Flask) -> None:
    _list_with_due_notice(registry)
    result = runner.invoke(args=["run-jobs"])
    assert result.exit_code == 0 and "apply-due-changes: 1" in result.output
    assert _current_version(app) == 2
    result = runner.invoke(args=["run-jobs"])
    assert "apply-due-changes: 0" in result.output
    assert _current_version(app) == 2


def test_nothing_is_applied_before_its_date(registry: Registry, app: Flask) -> None:
    _list_with_due_notice(registry)
    with app.app_context():
        assert jobs.apply_due_changes(lambda: datetime.now(UTC) - timedelta(minutes=2)) == 0
    assert _current_version(app) == 1


def test_the_real_scheduler_applies_due_changes(
    registry: Registry, app_factory: Callable[..., Flask]
) -> None:
    _list_with_due_notice(registry)
    app = app_factory(APPLY_CHANGES_EVERY_SECONDS=1)
    running = scheduler.start_in_process(app)
    try:
        deadline = time.monotonic() + 20
        while _current_version(app) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        running.shutdown(wait=True)
    assert _current_version(app) == 2
