"""The application factory: configuration layers and refusing to start without a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry import create_app
from registry.config import ConfigurationError


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
