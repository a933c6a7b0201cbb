"""Every table, imported in one place so that the mapper and the migrations see them all."""

from registry.accounts.models import ApiToken, Role, User
from registry.audit.models import AuditEvent
from registry.documents.models import Document, DocumentRevision
from registry.lists.models import Change, Notice, Processor, RegisterList, Version
from registry.notifications.models import DeliveryAttempt, Notification
from registry.objections.models import Objection
from registry.privacy.models import RetentionRun
from registry.rendered import RenderedAnswer
from registry.subscriptions.models import PendingSubscription, Subscriber, Subscription
from registry.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookTarget

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Change",
    "DeliveryAttempt",
    "Document",
    "DocumentRevision",
    "Notice",
    "Notification",
    "Objection",
    "PendingSubscription",
    "Processor",
    "RegisterList",
    "RenderedAnswer",
    "RetentionRun",
    "Role",
    "Subscriber",
    "Subscription",
    "User",
    "Version",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookTarget",
]
