"""Demo account managers, so a person trying the service can sign in at once."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.orm import Session

from registry.accounts import services
from registry.audit.services import SYSTEM

DEMO_USERS = (("admin@example.com", "admin"), ("editor@example.com", "editor"))


def load(session: Session, now: datetime) -> list[tuple[str, str, str]]:
    """Create the demo users with fresh random passwords; returns (email, role, password)."""
    created = []
    for email, role in DEMO_USERS:
        if services.find_user(session, email) is None:
            password = "-".join(secrets.token_hex(3) for _ in range(4))
            services.create_user(session, email, password, role, actor=SYSTEM, now=now)
            created.append((email, role, password))
    return created
