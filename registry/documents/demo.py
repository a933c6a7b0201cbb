"""The demo's privacy policy: two published revisions, built through the real workflow, so the
word diff between them can be seen at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from registry.documents import services, workflow

FIRST = """\
# Privacy policy

This policy explains how **Example Cloud Ltd** ("we") handles personal data on this site, where we
publish our sub-processor lists and announce changes to them.

## Who is responsible

Example Cloud Ltd, 1 Example Street, London, United Kingdom, is the controller. You can reach us at
[privacy@example.com](mailto:privacy@example.com).

## What we hold, and why

| Who | What we hold | Why |
|---|---|---|
| Subscribers | Email address, the lists you follow, when you confirmed | To email you the notices you asked for |
| People who object to a change | Organisation, name, email address, your reason | To answer your objection |
| Our account managers | Email address, sign-in records | To keep the admin pages secure |

We do not use tracking pixels, advertising cookies or third-party scripts.

## Your emails

Every email we send has a link to unsubscribe at once, without signing in.

## Your rights

You may ask us to access or delete the personal data you gave us. Write to
[privacy@example.com](mailto:privacy@example.com); we answer within one month.

## How long we keep it

We keep your data while you are subscribed, and delete it when you unsubscribe.

## Changes to this policy

We may change this policy. The current version is always at this address.
"""

SECOND = """\
# Privacy policy

This policy explains how **Example Cloud Ltd** ("we") handles personal data on this site, where we
publish our sub-processor lists and announce changes to them.

## Who is responsible

Example Cloud Ltd, 1 Example Street, London, United Kingdom, is the controller. You can reach our
data protection officer at [privacy@example.com](mailto:privacy@example.com).

## What we hold, and why

| Who | What we hold | Why |
|---|---|---|
| Subscribers | Email address, the lists and documents you follow, when you confirmed, which notices we sent you | To email you the notices you asked for |
| People who object to a change | Organisation, name, email address, your reason | To answer your objection, and as evidence that we did |
| Our account managers | Email address, sign-in records | To keep the admin pages secure |

We do not use tracking pixels, advertising cookies or third-party scripts, on this site or in our
emails.

## Your emails

Every email we send has a link to unsubscribe at once, without signing in, and a link to the page
where you manage your subscriptions.

## Your rights

You may ask us to access, correct or delete the personal data you gave us. From the link in any
of our emails you can see, download, correct or delete it yourself; or write to
[privacy@example.com](mailto:privacy@example.com) and we answer within one month.

## How long we keep it

- Sign-ups that are never confirmed: deleted after 3 days.
- Subscribers: while you are subscribed; your address is anonymised after you unsubscribe.
- Records of the notices we sent and of objections: kept for 3 years as evidence, then anonymised.

## Changes to this policy

We may change this policy. We announce each change here at least 30 days before it takes effect,
with a summary and the exact differences, and subscribers to this document are told by email.
"""


def load(session: Session, now: datetime) -> None:
    """The privacy policy: revision 1 a year ago, revision 2 announced and in effect since."""
    first_at = (now - timedelta(days=400)).replace(hour=9, minute=0, second=0, microsecond=0)
    policy = services.create_document(
        session, slug="privacy-policy", title="Privacy policy", notice_period_days=30, now=first_at
    )
    first = workflow.draft_revision(
        session, policy, body=FIRST, summary="First publication of the privacy policy.", now=first_at
    )
    workflow.correct(session, first, now=first_at)

    announced = (now - timedelta(days=75)).replace(hour=9, minute=0, second=0, microsecond=0)
    effective = (announced + timedelta(days=31)).replace(hour=0)
    second = workflow.draft_revision(
        session,
        policy,
        body=SECOND,
        summary=(
            "Adds the right to correct your data and to manage it yourself, exact retention periods, "
            "and that subscribers to this policy are told of changes by email."
        ),
        now=announced,
    )
    workflow.announce(session, second, effective_at=effective, now=announced)
    workflow.apply_revision(session, second.id, effective)
