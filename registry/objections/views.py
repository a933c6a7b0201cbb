"""The public objection form of a notice."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("objections", __name__)
