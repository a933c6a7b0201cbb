"""Running a ``flask`` command as an operator would: a process of its own, from the project's
folder, its output as seen on a terminal (stdout and stderr together)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def flask_command(app: str, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``flask --app <app> <command>``; the caller decides what a failure means."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", app, command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
