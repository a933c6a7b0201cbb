"""Signed links sent by email: each bound to one purpose and one subscriber's key, each with the
power its place in an email needs and no more.

- A confirmation link carries the subscriber's confirmation count and expires: it confirms what
  the address has asked for and not yet confirmed, kept in the database (``PendingSubscription``),
  so that any of two sign-ups' links confirms both. Once the count moves on, the link tells that
  the subscription is already confirmed. Links signed before carried what they asked for too
  ("l", "f", "d"); those keys are ignored now (the upgrade copied their requests into the
  database).
- An unsubscribe link (``List-Unsubscribe``, and the body's "Unsubscribe") only unsubscribes.
  It is handed to mailbox providers and travels with forwarded mail, so it can do nothing else;
  it never expires (an old email's must still work) and is the same in every email.
- A manage link (the body's "Manage your subscription") opens the manage page: lists, documents,
  frequency, unsubscribing, and asking for a fresh link. It expires after
  MANAGE_LINK_MAX_AGE_DAYS; every email carries a new one.
- A fresh link, emailed to the address on request, also shows and downloads the data held,
  corrects the address and erases it; it expires after FRESH_LINK_MAX_AGE_MINUTES.
- An address link (a correction of the address, confirmed from the new one) carries the new
  address; it expires like a confirmation and works once, because confirming it replaces the key.

Every link carries the subscriber's random key and nothing else that names it (no
sequential id): the key finds the subscriber. Replacing the key (a corrected or deleted address)
revokes every link sent before.

Before links were split by power, one untimed link did everything (``LEGACY_MANAGE``). Emails
already sent carry it: at ``/unsubscribe/`` it still unsubscribes; it opens nothing else.
"""

from __future__ import annotations

import hmac
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes
from itsdangerous.serializer import Serializer
from itsdangerous.signer import HMACAlgorithm
from itsdangerous.timed import TimestampSigner

from registry.subscriptions.models import Subscriber

CONFIRM = "confirm"
ADDRESS = "address"
UNSUBSCRIBE = "unsubscribe"
# Its own salt: the one-does-all link of old emails was signed for "manage", without a time.
MANAGE = "manage-page"
FRESH = "fresh"
LEGACY_MANAGE = "manage"
# Purposes whose links carry their time and expire, and the setting that says after how long.
_MAX_AGE: dict[str, Callable[[dict[str, Any]], int]] = {
    CONFIRM: lambda config: int(config["CONFIRMATION_MAX_AGE_SECONDS"]),
    ADDRESS: lambda config: int(config["CONFIRMATION_MAX_AGE_SECONDS"]),
    MANAGE: lambda config: int(config["MANAGE_LINK_MAX_AGE_DAYS"]) * 86400,
    FRESH: lambda config: int(config["FRESH_LINK_MAX_AGE_MINUTES"]) * 60,
}
NOT_VALID = "This link is not valid. Check that it was copied completely."
# The manage page with an old link, or one older than MANAGE_LINK_MAX_AGE_DAYS.
MANAGE_EXPIRED = "This link has expired. Ask for a fresh one below: we email it to you."
FRESH_EXPIRED = (
    "This link has expired: links that show, correct or delete your data work for a short time only. "
    "Ask for a fresh one below."
)


class TokenError(ValueError):
    """A link that is tampered with, expired, used, or meant for something else."""


@dataclass(frozen=True)
class LinkClaim:
    """What a valid confirmation link says: the subscriber's key (which finds it) and the
    confirmation count it was signed at."""

    key: str
    confirmations: int


class LinkExpired(TokenError):
    """A link that was valid once: the page offers to email a fresh one."""


@dataclass(frozen=True)
class KeyClaim:
    """What a valid unsubscribe, manage, fresh or address link says: for which purpose it was
    signed, the subscriber's key, and for an address link the new address (normalised when the
    link was made)."""

    purpose: str
    key: str
    email: str | None = None

    @property
    def fresh(self) -> bool:
        """Whether it may show, download, correct and erase the data (a fresh link)."""
        return self.purpose == FRESH


def _serializer(purpose: str) -> Serializer[str]:
    """Links that expire carry their time; unsubscribe links do not, so a subscriber's is always
    the same string."""
    cls = URLSafeTimedSerializer if purpose in _MAX_AGE else URLSafeSerializer
    return cls(current_app.config["SECRET_KEY"], salt=f"registry.subscriber.{purpose}")


def confirmation_token(subscriber: Subscriber) -> str:
    """A link that confirms what ``subscriber`` has asked for and not yet confirmed."""
    payload = {"k": subscriber.token_key, "n": subscriber.confirmations}
    return _serializer(CONFIRM).dumps(payload)


def unsubscribe_token(subscriber: Subscriber) -> str:
    return _serializer(UNSUBSCRIBE).dumps({"k": subscriber.token_key})


def manage_token(subscriber: Subscriber) -> str:
    return _serializer(MANAGE).dumps({"k": subscriber.token_key})


def fresh_token(subscriber: Subscriber) -> str:
    return _serializer(FRESH).dumps({"k": subscriber.token_key})


# A key as ``Subscriber`` makes them (``secrets.token_urlsafe``): JSON needs no escape for it.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _compressed(data: bytes) -> bytes:
    """``data`` deflated as ``zlib.compress`` does, but with a 512-byte window and the smallest
    hash table: for a payload this short the matches, so the length, are the same (the input
    is shorter than the window), and setting up the compressor costs a twentieth. Only the
    length is used: the URL-safe serializer sends a payload compressed if that makes it
    shorter (``dump_payload``), and a key's payload virtually never is."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 9, 1)
    return compressor.compress(data) + compressor.flush()


def signer(purpose: str) -> Callable[[str], str]:
    """The token of ``purpose`` from a subscriber's key, exactly as ``_serializer(purpose)``
    signs it, with the work that is the same for every key done once: the sender signs two
    tokens per email.

    ``Serializer.dumps`` derives the signing key, builds a signer and an HMAC, and serialises
    JSON for every token: most of the cost of a link (``bench/fanout.py``). Here the HMAC
    keyed with the derived key is made once and copied per token; the payload of a plain key
    is written directly, and compressed only to learn that it does not get shorter. The result is the same string, byte for byte (the same algorithm,
    key, salt, payload and time stamp; tests/subscriptions/test_tokens.py compares them), so
    what a token may do and how long it lives do not change. Any other key goes through
    ``dumps`` itself.
    """
    serializer = _serializer(purpose)
    made = serializer.make_signer()
    if not isinstance(made.algorithm, HMACAlgorithm):  # not how _serializer builds them
        return lambda key: serializer.dumps({"k": key})
    mac = hmac.new(made.derive_key(), digestmod=made.algorithm.digest_method)
    sep = want_bytes(made.sep)
    timed = isinstance(made, TimestampSigner)

    def sign(key: str) -> str:
        if not _PLAIN_KEY.fullmatch(key):
            return serializer.dumps({"k": key})
        data = b'{"k":"' + key.encode("ascii") + b'"}'  # _CompactJSON's form of {"k": key}
        if len(_compressed(data)) < len(data) - 1:  # it compresses: dumps does that
            return serializer.dumps({"k": key})
        value = base64_encode(data)
        if timed:  # TimestampSigner.sign
            value += sep + base64_encode(int_to_bytes(int(time.time())))
        signature = mac.copy()
        signature.update(value)
        return (value + sep + base64_encode(signature.digest())).decode("ascii")

    return sign


def address_token(subscriber: Subscriber, email: str) -> str:
    """A link that changes ``subscriber``'s address to ``email`` once followed (from that inbox)."""
    return _serializer(ADDRESS).dumps({"k": subscriber.token_key, "e": email})


def _loads(token: str, purpose: str) -> Any:
    """The payload of a token signed for ``purpose``; ``SignatureExpired`` or ``BadSignature``."""
    serializer = _serializer(purpose)
    if isinstance(serializer, URLSafeTimedSerializer):
        return serializer.loads(token, max_age=_MAX_AGE[purpose](current_app.config))
    return serializer.loads(token)


def _key_claim(purpose: str, payload: Any) -> KeyClaim:
    try:
        email = payload.get("e") if purpose == ADDRESS else None
        if purpose == ADDRESS and email is None:
            raise KeyError("e")
        return KeyClaim(purpose, str(payload["k"]), None if email is None else str(email))
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise TokenError(NOT_VALID) from error


def read_key(token: str, *purposes: str) -> KeyClaim:
    """The claim of a token signed for one of ``purposes`` (tried in order), checked for its
    signature and age; the caller finds the subscriber by the key.

    An unsubscribe accepts the one-does-all link of emails sent before links were split by
    power. That link anywhere else, or a link past its age, is ``LinkExpired``.
    """
    expired: SignatureExpired | None = None
    expired_purpose = None
    for purpose in purposes:
        try:
            return _key_claim(purpose, _loads(token, purpose))
        except SignatureExpired as error:
            expired, expired_purpose = error, purpose
            if purpose == ADDRESS:
                raise LinkExpired(
                    "This link has expired. Ask for the change again from your subscription page."
                ) from error
        except BadSignature:
            continue
    try:
        legacy = _loads(token, LEGACY_MANAGE)
    except BadSignature as error:
        if expired is not None:
            raise LinkExpired(FRESH_EXPIRED if expired_purpose == FRESH else MANAGE_EXPIRED) from expired
        raise TokenError(NOT_VALID) from error
    if UNSUBSCRIBE in purposes:
        return _key_claim(UNSUBSCRIBE, legacy)
    raise LinkExpired(MANAGE_EXPIRED)


def read(token: str, purpose: str) -> LinkClaim:
    """Check a confirmation token's signature, purpose and age; the caller checks it against the
    subscriber."""
    serializer = _serializer(purpose)
    try:
        if isinstance(serializer, URLSafeTimedSerializer):
            max_age = current_app.config["CONFIRMATION_MAX_AGE_SECONDS"]
            payload: Any = serializer.loads(token, max_age=max_age)
        else:
            payload = serializer.loads(token)
    except SignatureExpired as error:
        raise TokenError("This link has expired. Subscribe again to get a new one.") from error
    except BadSignature as error:
        raise TokenError(NOT_VALID) from error
    try:
        if purpose == CONFIRM:
            # Links signed before also carried the subscriber's id ("s"): the key is enough.
            return LinkClaim(str(payload["k"]), int(payload["n"]))
        raise TokenError(NOT_VALID)
    except (KeyError, TypeError, ValueError) as error:
        raise TokenError(NOT_VALID) from error
