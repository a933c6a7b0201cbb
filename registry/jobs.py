"""What a scheduled job is: a named function and the setting that says how often it runs.

Each domain lists its jobs as ``SCHEDULES`` in its ``jobs.py`` with this class; the scheduler
(``registry.scheduler``, part of the wiring) runs them. Kept in the core so that a domain never
imports the wiring that imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Schedule"]


@dataclass(frozen=True)
class Schedule:
    """A job and the setting that says how many seconds apart it runs."""

    name: str
    run: Callable[[], object]
    every_setting: str
