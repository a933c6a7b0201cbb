"""Signed links sent by email: each bound to one purpose, one subscriber and that subscriber's key.

A confirmation link carries the subscriber's confirmation count and expires: it confirms what the
address has asked for and not yet confirmed, kept in the database (``PendingSubscription``), so
that any of two sign-ups' links confirms both. Once the count moves on, the link tells that the
subscription is already confirmed. Links signed before carried what they asked for too ("l",
"f", "d"); those keys are ignored now (the upgrade copied their requests into the database). An
address link (a correction of the address, confirmed from the new one) carries the new address;
it expires like a confirmation and works once, because confirming it replaces the subscriber's
key. Manage and unsubscribe links last as long as the subscriber's key: an unsubscribe link in
an old email must still work. Replacing the key (a corrected or deleted address) revokes every
link sent before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.serializer import Serializer

from registry.subscriptions.models import Subscriber

CONFIRM = "confirm"
MANAGE = "manage"
ADDRESS = "address"
# Purposes whose links carry their time and expire after CONFIRMATION_MAX_AGE_SECONDS.
_TIMED = (CONFIRM, ADDRESS)


class TokenError(ValueError):
    """A link that is tampered with, expired, used, or meant for something else."""


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token says: whose it is, and for a confirmation, the confirmation count it
    was signed at."""

    subscriber_id: int
    key: str
    confirmations: int | None = None
    # For an address link: the new address, already normalised when the link was made.
    email: str | None = None

    def matches(self, subscriber: Subscriber | None) -> bool:
        if subscriber is None or subscriber.token_key != self.key:
            return False
        return self.confirmations is None or self.confirmations == subscriber.confirmations


def _serializer(purpose: str) -> Serializer[str]:
    """Confirmation and address links carry their time (they expire); manage links do not, so a
    subscriber's manage link is always the same string."""
    cls = URLSafeTimedSerializer if purpose in _TIMED else URLSafeSerializer
    return cls(current_app.config["SECRET_KEY"], salt=f"registry.subscriber.{purpose}")


def confirmation_token(subscriber: Subscriber) -> str:
    """A link that confirms what ``subscriber`` has asked for and not yet confirmed."""
    payload = {"s": subscriber.id, "k": subscriber.token_key, "n": subscriber.confirmations}
    return _serializer(CONFIRM).dumps(payload)


def manage_token(subscriber: Subscriber) -> str:
    return _serializer(MANAGE).dumps({"s": subscriber.id, "k": subscriber.token_key})


def manage_signer() -> Callable[[int, str], str]:
    """``manage_token`` from the two values it is made of, with its serializer made once: the
    sender signs a batch of emails off the ORM."""
    serializer = _serializer(MANAGE)
    return lambda subscriber_id, key: serializer.dumps({"s": subscriber_id, "k": key})


def address_token(subscriber: Subscriber, email: str) -> str:
    """A link that changes ``subscriber``'s address to ``email`` once followed (from that inbox)."""
    return _serializer(ADDRESS).dumps({"s": subscriber.id, "k": subscriber.token_key, "e": email})


def read(token: str, purpose: str) -> LinkClaim:
    """Check a token's signature, purpose and age; the caller checks it against the subscriber."""
    serializer = _serializer(purpose)
    try:
        if isinstance(serializer, URLSafeTimedSerializer):
            max_age = current_app.config["CONFIRMATION_MAX_AGE_SECONDS"]
            payload: Any = serializer.loads(token, max_age=max_age)
        else:
            payload = serializer.loads(token)
    except SignatureExpired as error:
        if purpose == ADDRESS:
            raise TokenError(
                "This link has expired. Ask for the change again from your subscription page."
            ) from error
        raise TokenError("This link has expired. Subscribe again to get a new one.") from error
    except BadSignature as error:
        raise TokenError("This link is not valid. Check that it was copied completely.") from error
    try:
        if purpose == CONFIRM:
            return LinkClaim(int(payload["s"]), str(payload["k"]), int(payload["n"]))
        if purpose == ADDRESS:
            return LinkClaim(int(payload["s"]), str(payload["k"]), email=str(payload["e"]))
        return LinkClaim(int(payload["s"]), str(payload["k"]))
    except (KeyError, TypeError, ValueError) as error:
        raise TokenError("This link is not valid. Check that it was copied completely.") from error
