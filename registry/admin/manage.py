"""Admin-only pages: users and their API tokens, list settings and new lists."""

from __future__ import annotations
