"""The application factory: configuration layers and refusing to start without a secret."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.routing import Map, MapAdapter, Rule

from registry import create_app
from registry.config import ConfigurationError
from tests.commands import ROOT


def test_refuses_to_start_without_secret_key_outside_development(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"}, str(tmp_path))


def test_testing_and_debug_get_a_throwaway_key(tmp_path: Path) -> None:
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"}, str(tmp_path)
    )
    assert len(app.config["SECRET_KEY"]) >= 32


def test_environment_overrides_defaults_and_test_config_overrides_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_SECRET_KEY", "from-env")
    monkeypatch.setenv("FLASK_DEFAULT_LIST", "website")
    monkeypatch.setenv("FLASK_CACHE_MAX_AGE", "60")
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite", "CACHE_MAX_AGE": 30}, str(tmp_path)
    )
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["DEFAULT_LIST"] == "website"
    assert app.config["CACHE_MAX_AGE"] == 30


def test_sqlite_in_the_instance_folder_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLASK_SQLALCHEMY_DATABASE_URI", raising=False)
    app = create_app({"TESTING": True}, str(tmp_path))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'registry.sqlite'}"


def test_instance_config_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    (tmp_path / "config.py").write_text('SECRET_KEY = "from-file"\nCOMPANY_NAME = "Acme"\n')
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"}, str(tmp_path))
    assert app.config["SECRET_KEY"] == "from-file"
    assert app.config["COMPANY_NAME"] == "Acme"


# Libraries only some pages and commands use, imported where they are used: a start of the
# service, ``flask run-jobs`` above all (cron and the sender start it again and again), pays
# for none of them.
ON_DEMAND = (
    "alembic",
    "apscheduler",
    "email_validator",
    "feedgen",
    "flask_migrate",
    "icalendar",
    "lxml",
    "markdown_it",
    "segno",
    "weasyprint",
)

# ``flask run-jobs`` in this process, then the names of every module it imported, on one line.
_RUN_JOBS = """
import sys
from flask.cli import main

sys.argv = ["flask", "--app", sys.argv[1], "run-jobs"]
try:
    main()
except SystemExit as exit:
    if exit.code:
        raise
print(" ".join(sorted(sys.modules)))
"""


def test_run_jobs_imports_no_library_that_only_some_pages_or_commands_need(
    db_url: str, tmp_path: Path
) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    env.update({"FLASK_SECRET_KEY": "test-secret", "FLASK_SQLALCHEMY_DATABASE_URI": db_url})
    factory = f"registry:create_app(instance_path={str(tmp_path)!r})"
    result = subprocess.run(
        [sys.executable, "-c", _RUN_JOBS, factory],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "retention:" in result.stdout  # the jobs ran
    imported = {name.split(".")[0] for name in result.stdout.splitlines()[-1].split()}
    assert sorted(imported.intersection(ON_DEMAND)) == []


def test_the_migration_commands_load_when_used(app: Flask) -> None:
    """``flask db`` stands in for Flask-Migrate's commands until it is run: then they are its own."""
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["--help"])
    assert "Perform database migrations." in listed.output
    assert "migrate" not in app.extensions
    helped = runner.invoke(args=["db", "--help"])
    assert helped.exit_code == 0, helped.output
    assert "upgrade" in helped.output
    assert runner.invoke(args=["db", "-x", "unused", "heads"]).exit_code == 0
    assert "migrate" in app.extensions


def _built(adapter: MapAdapter, endpoint: str, values: dict[str, str]) -> str:
    try:
        return adapter.build(endpoint, values, force_external=True)
    except Exception as error:  # the same refusal from both is the same answer
        return f"{type(error).__name__}"


def test_links_are_built_as_werkzeug_builds_them_though_compiled_on_first_use(app: Flask) -> None:
    rules = list(app.url_map.iter_rules())
    # Nothing compiled at start (werkzeug names what it compiles "<builder:...>").
    assert not [rule for rule in rules if rule._build.__name__.startswith("<builder:")]
    plain = Map(
        [Rule(rule.rule, **rule.get_empty_kwargs()) for rule in rules], converters=app.url_map.converters
    )
    ours, theirs = app.url_map.bind("registry.example"), plain.bind("registry.example")
    for rule in rules:
        values = {name: "1" for name in rule.arguments if name not in (rule.defaults or {})}
        for extra in ({}, {"page": "2", "q": "a b&c"}):
            for _ in range(2):  # compiled by the first build, werkzeug's own at the second
                assert _built(ours, rule.endpoint, {**values, **extra}) == _built(
                    theirs, rule.endpoint, {**values, **extra}
                ), rule
    assert all(rule._build_unknown.__name__.startswith("<builder:") for rule in rules)


def test_building_the_app_leaves_the_collector_as_it_found_it(tmp_path: Path) -> None:
    settings = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"}
    assert gc.isenabled()
    create_app(settings, str(tmp_path))
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    gc.disable()
    try:
        create_app(settings, str(tmp_path))
        assert not gc.isenabled()
    finally:
        gc.enable()
