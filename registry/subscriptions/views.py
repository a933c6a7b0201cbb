"""Public pages of subscribing: sign up, confirm, manage, unsubscribe."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("subscriptions", __name__)
