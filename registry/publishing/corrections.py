"""What a correction may change: wording and links, never the scope of processing.

A correction is published at once, without notice, so it must not be news to customers: no new
entry, no new or removed location or data category, no other transfer mechanism, kind or
corporate location, and no retirement. Each domain says which of its fields are material; the
rule and its message are the same for all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from registry.validation import ValidationError

ANNOUNCE_INSTEAD = "Announce it with notice instead, so that customers can object."


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
    altered = [field for field in material if before.get(field) != after.get(field)]
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
