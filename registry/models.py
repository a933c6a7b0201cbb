"""Every table, imported in one place so that the mapper and the migrations see them all."""

from registry.accounts.models import ApiToken, Role, User
from registry.audit.models import AuditEvent
from registry.lists.models import Change, Notice, Processor, RegisterList, Version

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Change",
    "Notice",
    "Processor",
    "RegisterList",
    "Role",
    "User",
    "Version",
]
