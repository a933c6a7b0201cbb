"""Limits on what people type, in one place so every form, the API and the services agree."""

from __future__ import annotations

# A public reason, justification or summary: a paragraph, not a document.
MAX_REASON = 2000
