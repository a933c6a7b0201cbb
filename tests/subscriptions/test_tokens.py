"""The sender's token signer makes the very tokens the serializers make, so links keep their
powers and their lifetimes, and every link ever sent keeps working."""

from __future__ import annotations

import secrets
import string
import time

import pytest
from flask import Flask

from registry.subscriptions import tokens

PURPOSES = [tokens.UNSUBSCRIBE, tokens.MANAGE, tokens.FRESH, tokens.CONFIRM, tokens.LEGACY_MANAGE]
# Keys as subscribers get them, and keys the fast path leaves to the serializer: repetitive
# (its payload compresses), too long, with characters JSON escapes.
KEYS = [secrets.token_urlsafe(12) for _ in range(50)] + [
    "a" * 16,
    "-" * 40,
    "A" * 64,
    "b" * 65,
    "x",
    'quote"d',
    "ünïcode",
    "with space",
    string.ascii_letters + string.digits,
]


@pytest.mark.parametrize("purpose", PURPOSES)
def test_signer_makes_the_serializers_tokens(app: Flask, purpose: str) -> None:
    with app.app_context():
        sign = tokens.signer(purpose)
        serializer = tokens._serializer(purpose)
        for key in KEYS:
            for _ in range(3):  # the same second for both, for timed tokens
                before = int(time.time())
                ours, theirs = sign(key), serializer.dumps({"k": key})
                if int(time.time()) == before:
                    break
            assert ours == theirs, key


def test_signed_links_read_back_with_their_purpose_only(app: Flask) -> None:
    with app.app_context():
        key = secrets.token_urlsafe(12)
        unsubscribe = tokens.signer(tokens.UNSUBSCRIBE)(key)
        manage = tokens.signer(tokens.MANAGE)(key)
        assert tokens.read_key(unsubscribe, tokens.UNSUBSCRIBE) == tokens.KeyClaim(tokens.UNSUBSCRIBE, key)
        assert tokens.read_key(manage, tokens.MANAGE) == tokens.KeyClaim(tokens.MANAGE, key)
        with pytest.raises(tokens.TokenError):
            tokens.read_key(unsubscribe, tokens.MANAGE, tokens.FRESH)
        with pytest.raises(tokens.TokenError):
            tokens.read_key(manage, tokens.FRESH)
