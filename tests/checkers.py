"""The checkers installed from npm (``bin/ensure-npm-tools``): the Nu HTML checker, run with the
machine's Java, and axe-core, injected into pages in chromium. Without them their tests skip
with the reason, or fail when ``REGISTRY_REQUIRE_BROWSER`` is set (as CI sets it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.commands import ROOT

NODE_MODULES = ROOT / "node_modules"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE_SCRIPT = NODE_MODULES / "axe-core" / "axe.min.js"


def _missing(reason: str) -> None:
    reason += "; run bin/ensure-npm-tools (make test does)"
    if os.environ.get("REGISTRY_REQUIRE_BROWSER"):
        pytest.fail(reason + " (REGISTRY_REQUIRE_BROWSER is set)")
    pytest.skip(reason)


def installed(path: Path) -> Path:
    """``path`` inside node_modules, or a skip (a failure in CI) saying it is not installed."""
    if not path.is_file():
        _missing(f"{path.relative_to(ROOT)} is not installed")
    return path


def java() -> str:
    """The machine's ``java``, or a skip (a failure in CI) saying there is none."""
    found = shutil.which("java")
    if found is None:
        _missing("java is not installed (the Nu HTML checker runs on it)")
        raise AssertionError("unreachable")
    return found
