"""Limits on what people type, in one place so every form, the API and the services agree."""

from __future__ import annotations

# A public reason, justification or summary: a paragraph, not a document.
MAX_REASON = 2000
# RFC 5321 allows 254 characters in a forward path: a longer address can never receive a message.
MAX_EMAIL = 254
# One line that names something: a processor, a list's title, an organisation, a person.
MAX_NAME = 200
# Several paragraphs: a list's introduction, an objection's reason.
MAX_LONG_TEXT = 5000
