"""What a correction may change: wording and links, never the scope of processing.

A correction is published at once, without notice, so it must not be news to customers: no new
entry, no new or removed location or data category, no other transfer mechanism, kind or
corporate location, and no retirement. Each domain says which of its fields are material; the
rule and its message are the same for all.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from typing import Any

from registry.validation import ValidationError

ANNOUNCE_INSTEAD = "Announce it with notice instead, so that customers can object."
_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def check_correction(
    action: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    material: Collection[str],
    labels: Mapping[str, str],
    name: str,
) -> None:
    """Refuse a change that is more than a correction of ``name``.

    ``action`` is "update" for an edit of something already published; anything else (adding,
    retiring, replacing) is news. ``material`` names the fields whose change alters processing;
    ``labels`` how they read. The message names what makes it material.
    """
    if action != "update" or before is None or after is None:
        verb = {"add": "Adding", "retire": "Retiring", "replace": "Replacing"}.get(action, "This change to")
        raise ValidationError({"changes": f"{verb} {name} is not a correction. {ANNOUNCE_INSTEAD}"})
    altered = [field for field in material if differs(before.get(field), after.get(field))]
    if altered:
        words = ", ".join(labels.get(field, field).lower() for field in altered)
        raise ValidationError(
            {
                "changes": (
                    f"The change to {name} alters its {words}: a correction may only fix wording "
                    f"and links. {ANNOUNCE_INSTEAD}"
                )
            }
        )


def differs(old: Any, new: Any) -> bool:
    """Whether a field's value changed; a list (locations, mechanisms) is a set shown in a
    chosen order, so putting its items in another order changes nothing."""
    if isinstance(old, list) and isinstance(new, list):
        return sorted(map(str, old)) != sorted(map(str, new))
    return bool(old != new)


# A correction of wording changes at most this many words of one text (a typo, a clearer word),
# and keeps at least this share of its letters.
WORDING_MAX_WORDS = 6
SIMILAR_ENOUGH = 0.6


def changed_words(old: str, new: str) -> int:
    """How many words ``new`` inserts or deletes against ``old`` (punctuation counts as words)."""
    before, after = _WORDS.findall(old), _WORDS.findall(new)
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    return sum((i2 - i1) + (j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal")


def check_wording(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    fields: Collection[str],
    labels: Mapping[str, str],
    name: str,
    limit: int = WORDING_MAX_WORDS,
) -> None:
    """Refuse a correction that rewrites a text rather than fixing it: at most ``limit`` changed
    words in each of ``fields``, and most of its letters kept (a typo in "Amazn" is fixed;
    "AWS" becoming "Palantir" is another sub-processor)."""
    for field in fields:
        old, new = str(before.get(field) or ""), str(after.get(field) or "")
        if old == new:
            continue
        changed = changed_words(old, new)
        kept = difflib.SequenceMatcher(a=old.casefold(), b=new.casefold(), autojunk=False).ratio()
        if changed > limit or kept < SIMILAR_ENOUGH:
            raise ValidationError(
                {
                    "changes": (
                        f"The change to {name} rewrites its {labels.get(field, field).lower()} "
                        f"({changed} words): a correction may only fix a few words. {ANNOUNCE_INSTEAD}"
                    )
                }
            )


def check_text_correction(changed_words: int, *, limit: int, name: str) -> None:
    """Refuse a text correction larger than a fix of wording: at most ``limit`` changed words.

    A document cannot say mechanically whether a new sentence widens processing, so a correction
    is held to the size of a typo or a link; anything larger is announced.
    """
    if changed_words > limit:
        raise ValidationError(
            {
                "changes": (
                    f"This changes {changed_words} words of {name}; a correction may change at most "
                    f"{limit} (typos, links). {ANNOUNCE_INSTEAD}"
                )
            }
        )
