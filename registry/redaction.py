"""Error texts as we keep them: without the email addresses a server quoted.

An SMTP reply often quotes the recipient ("550 5.1.1 <ada@example.com>: user unknown"), a
webhook receiver may quote anything. Such a text is redacted where it is recorded (the outbox,
its attempts, a subscriber's bounce reason, a webhook delivery) and before it is logged, so no
stored error text ever holds an address: erasing one never has to search other rows' texts.
"""

from __future__ import annotations

import re

# What stands where an address was: visibly gone, and no address itself.
ADDRESS = "[address]"
# The longest error text a row keeps.
MAX_ERROR = 2000

# Address-shaped: a run of characters an address may hold (no white space, none of the marks
# that enclose or separate addresses in a reply), an "@", and another such run; or a quoted
# local part ("ada lovelace"@example.com). Wider than any address we accept, on purpose: a
# fragment that merely looks like one goes too (the reply is for an operator, who needs its code
# and words, not the address).
_ATOM = r"""[^\s<>()\[\]{},;:"'`@]+"""
_DOMAIN = rf"(?:{_ATOM}|\[[^\]\s]*\])"
_ADDRESS = re.compile(rf'(?:{_ATOM}|"[^"\r\n]*")@{_DOMAIN}')


def redact_addresses(text: str) -> str:
    """``text`` with every address-shaped substring replaced by ``ADDRESS``."""
    return _ADDRESS.sub(ADDRESS, text) if "@" in text else text


def recorded_error(text: str) -> str:
    """An error text as a row keeps it: addresses redacted, then cut to ``MAX_ERROR`` characters
    (redacted first, so the cut cannot leave part of an address that no longer looks like one)."""
    return redact_addresses(text)[:MAX_ERROR]
