"""The publication core's rules as plain functions: each is held here once, for lists and
documents alike (``test_domains`` holds the same rules through each domain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry.publishing import corrections, rules, wording
from registry.publishing.rules import ConflictError
from registry.publishing.wording import ChangeWords
from registry.validation import ValidationError

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
MATERIAL = ("locations", "data_categories", "transfer_mechanisms", "kind", "corporate_location")
LABELS = {"locations": "Processing locations", "data_categories": "Categories of personal data"}
BEFORE = {"name": "AWS", "purpose": "Hosting", "locations": ["DE"], "data_categories": ["Email"]}


# --- corrections ------------------------------------------------------------------------------


def test_a_correction_may_fix_wording_and_links() -> None:
    after = {**BEFORE, "purpose": "Hosting of the service.", "website": "https://aws.amazon.com"}
    corrections.check_correction("update", BEFORE, after, material=MATERIAL, labels=LABELS, name="AWS")


@pytest.mark.parametrize(
    ("after", "named"),
    [
        ({**BEFORE, "locations": ["DE", "US"]}, "processing locations"),  # widened
        ({**BEFORE, "locations": []}, "processing locations"),  # narrowed: still news
        ({**BEFORE, "data_categories": ["Email", "Payment card data"]}, "categories of personal data"),
        ({**BEFORE, "transfer_mechanisms": ["scc"]}, "transfer_mechanisms"),
        ({**BEFORE, "kind": "affiliate"}, "kind"),
    ],
)
def test_a_correction_may_not_alter_processing(after: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        corrections.check_correction("update", BEFORE, after, material=MATERIAL, labels=LABELS, name="AWS")
    message = caught.value.errors["changes"]
    assert named in message and "Announce it with notice instead" in message


@pytest.mark.parametrize(
    ("action", "verb"), [("add", "Adding"), ("retire", "Retiring"), ("replace", "Replacing")]
)
def test_adding_retiring_or_replacing_is_never_a_correction(action: str, verb: str) -> None:
    with pytest.raises(ValidationError, match=f"{verb} AWS is not a correction"):
        corrections.check_correction(action, BEFORE, None, material=MATERIAL, labels=LABELS, name="AWS")


def test_a_text_correction_is_held_to_the_size_of_a_fix() -> None:
    corrections.check_text_correction(30, limit=30, name="Privacy policy")
    with pytest.raises(
        ValidationError, match="changes 31 words of Privacy policy; a correction may change at most 30"
    ):
        corrections.check_text_correction(31, limit=30, name="Privacy policy")


# --- four eyes --------------------------------------------------------------------------------


def test_nobody_who_took_part_may_approve() -> None:
    rules.check_approver(3, [1, 2, None], what="notice")
    for approver in (1, 2):
        with pytest.raises(ValidationError, match="another person must approve it"):
            rules.check_approver(approver, [1, 2], what="notice")
    with pytest.raises(ValidationError, match="signed-in person"):
        rules.check_approver(None, [1], what="notice")


def test_contributors_are_kept_once_and_sorted() -> None:
    assert rules.contributors_with(None, 5) == [5]
    assert rules.contributors_with([5, 2], 5) == [2, 5]
    assert rules.contributors_with([2], None) == [2]


# --- public texts -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["Outage\x07", "Outage\x00", "Outage\ud800", "Out\x1bage"])
def test_a_public_text_refuses_control_characters(bad: str) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        rules.public_text(bad, "short_notice_reason")


def test_a_public_text_is_trimmed_required_where_asked_and_limited() -> None:
    assert rules.public_text("  Typo.  ", "reason") == "Typo."
    assert rules.public_text("", "short_notice_reason") == ""
    with pytest.raises(ValidationError, match="Give the public reason"):
        rules.public_reason("   ")
    with pytest.raises(ValidationError, match="2001 characters long; the limit is 2000"):
        rules.public_reason("x" * 2001)


# --- the notice period ------------------------------------------------------------------------


def _check(effective_at: datetime, reason: str | None = None) -> str | None:
    return rules.check_effective_date(
        effective_at, notice_period_days=30, short_notice_reason=reason, now=NOW, what="list"
    )


def test_the_notice_period_or_a_published_justification() -> None:
    assert _check(NOW + timedelta(days=30)) is None
    assert _check(NOW + timedelta(days=30), "Not needed.") is None  # nothing short to justify
    assert _check(NOW + timedelta(days=3), " Outage. ") == "Outage."
    with pytest.raises(ValidationError, match="notice period is 30 days"):
        _check(NOW + timedelta(days=29))
    with pytest.raises(ValidationError, match="must be in the future"):
        _check(NOW, "Outage.")
    with pytest.raises(ValidationError, match="time zone"):
        _check(datetime(2027, 3, 1), "Outage.")  # naive on purpose
    with pytest.raises(ValidationError, match="control characters"):
        _check(NOW + timedelta(days=3), "Outage\x07")


def test_the_objection_deadline_is_never_before_publication() -> None:
    assert rules.objection_deadline(NOW + timedelta(days=30), 1, NOW) == NOW + timedelta(days=29)
    assert rules.objection_deadline(NOW + timedelta(hours=2), 1, NOW) == NOW


# --- states and withdrawal --------------------------------------------------------------------


def test_a_state_conflict_says_where_it_stands() -> None:
    rules.require_state("draft", "draft", what="change 4")
    with pytest.raises(ConflictError, match=r"The change 4 is applied, not draft\.") as caught:
        rules.require_state("applied", "draft", what="change 4")
    assert caught.value.current == {"status": "applied"}


def test_only_what_has_not_taken_effect_can_be_withdrawn() -> None:
    rules.check_withdrawable(True, NOW + timedelta(days=1), NOW, what="notice")
    with pytest.raises(ConflictError, match="took effect"):
        rules.check_withdrawable(True, NOW, NOW, what="notice")
    with pytest.raises(ConflictError, match="Only an announced notice"):
        rules.check_withdrawable(False, NOW + timedelta(days=1), NOW, what="notice")


# --- wording ----------------------------------------------------------------------------------


def test_one_wording_of_a_change_and_a_notice() -> None:
    added = ChangeWords("add", "sub-processor", "Acme", places="United States")
    removed = ChangeWords("retire", "sub-processor", "Zendesk")
    assert wording.headline(added) == "New sub-processor: Acme (United States)"
    assert wording.headline(removed) == "Removed sub-processor: Zendesk"
    assert wording.headline(ChangeWords("correct", "sub-processor", "Stripe", fields=("website",))) == (
        "Corrected sub-processor: Stripe (website)"
    )
    effective = NOW + timedelta(days=30)
    assert wording.title(wording.what_changes([added], "Sub-processors"), "announcement", effective) == (
        "New sub-processor: Acme (United States), effective 2027-02-09"
    )
    assert wording.title(
        wording.what_changes([added, removed], "Sub-processors"), "withdrawal", effective
    ) == (
        "Withdrawn: 2 changes to Sub-processors: Acme added (United States); Zendesk removed "
        "(was to take effect 2027-02-09)"
    )
    many = [ChangeWords("add", "sub-processor", f"P{i}") for i in range(5)]
    assert wording.what_changes(many, "Sub-processors").endswith("P0 added; P1 added; P2 added; and 2 more")
