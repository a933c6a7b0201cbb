"""The checkers the tests read pages and documents with: the Nu HTML checker, run with the
machine's Java, and axe-core, injected into pages in chromium (both from npm,
``bin/ensure-npm-tools``); poppler's ``pdftotext`` for printouts and PDF annexes
(``bin/ensure-pdftotext``). Without them their tests skip with the reason, or fail when
``REGISTRY_REQUIRE_BROWSER`` is set (as CI sets it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
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


def pdftotext() -> str:
    """poppler's ``pdftotext``, or a skip (a failure in CI) saying it is missing."""
    found = shutil.which("pdftotext")
    if found is None:
        reason = (
            "pdftotext is not installed; install it with: sudo apt-get install poppler-utils "
            "(or run bin/ensure-pdftotext)"
        )
        if os.environ.get("REGISTRY_REQUIRE_BROWSER"):
            pytest.fail(reason + " (REGISTRY_REQUIRE_BROWSER is set)")
        pytest.skip(reason)
    return found


def pdf_text(executable: str, data: bytes, folder: Path) -> str:
    """The text of a PDF as ``pdftotext -layout`` lays it out (columns side by side)."""
    path = folder / "document.pdf"
    path.write_bytes(data)
    result = subprocess.run(
        [executable, "-layout", str(path), "-"], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout


def words(text: str) -> str:
    """Text with every run of whitespace made one space: a cell may wrap onto several lines."""
    return re.sub(r"\s+", " ", text).strip()
