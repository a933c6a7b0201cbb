"""Error texts keep their codes and words, never an address (``registry.redaction``)."""

from __future__ import annotations

import pytest

from registry.redaction import MAX_ERROR, recorded_error, redact_addresses


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("550 5.1.1 <ada@example.com>: user unknown", "550 5.1.1 <[address]>: user unknown"),
        ("550 5.7.1 <ADA@BÜCHER.EXAMPLE>: forwarding loop", "550 5.7.1 <[address]>: forwarding loop"),
        ("550 5.1.1 ada@xn--bcher-kva.example user unknown", "550 5.1.1 [address] user unknown"),
        (
            "451 <a.b+tag@example.net>, <c@example.org>; busy",
            "451 <[address]>, <[address]>; busy",
        ),
        ('550 "ada lovelace"@example.com unknown', "550 [address] unknown"),
        ("550 ada@[192.0.2.1] unknown", "550 [address] unknown"),
        ("refused: mailto:ada@example.com (quota)", "refused: mailto:[address] (quota)"),
        ("421 4.3.2 Service shutting down", "421 4.3.2 Service shutting down"),
        ("a lone @ stays", "a lone @ stays"),
    ],
)
def test_every_address_shaped_substring_is_redacted(said: str, kept: str) -> None:
    assert redact_addresses(said) == kept


def test_a_long_text_is_cut_after_redaction() -> None:
    text = "x" * (MAX_ERROR - 5) + " ada@example.com"
    assert recorded_error(text) == ("x" * (MAX_ERROR - 5) + " [address]")[:MAX_ERROR]
    assert "@" not in recorded_error(text)
