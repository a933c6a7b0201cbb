"""The admin pages for account managers: dashboard, list editor, workflow, users, settings.

Every route on this blueprint needs a signed-in user with the role its view declares (see
``registry.accounts.auth``): the check runs before any view, so a new page without a declared
role is refused to everybody. Routes live in ``views.py`` (the lists and their changes) and
``manage.py`` (users, tokens, list settings).
"""

from __future__ import annotations

from flask import Blueprint

from registry.accounts.auth import guard

bp = Blueprint("admin", __name__, url_prefix="/admin")
guard(bp, check_csrf=True)
