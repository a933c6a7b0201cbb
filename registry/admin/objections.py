"""Admin pages of objections: per notice, handled with a note, exported as CSV."""

from __future__ import annotations
