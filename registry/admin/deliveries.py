"""Admin pages of delivery: what the outbox holds per notice, and what could not be sent."""

from __future__ import annotations
