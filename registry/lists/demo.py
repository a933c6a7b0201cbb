"""A realistic demo: a SaaS company's lists with a year and a half of history and one upcoming change.

Everything goes through the same services as real edits, with the clock set to each moment of
the history, so the demo also exercises the whole change workflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from registry.lists import services, workflow
from registry.lists.models import ChangeAction, Notice, RegisterList

EU = ["DE", "NL", "IE"]

INITIAL: list[dict[str, Any]] = [
    {
        "name": "Microsoft Azure",
        "legal_entity": "Microsoft Ireland Operations Limited",
        "purpose": "Cloud hosting of the application, its databases and backups.",
        "data_categories": ["Account data", "Customer content", "Usage logs"],
        "locations": ["NL", "IE"],
        "corporate_location": "IE",
        "transfer_mechanisms": ["none"],
        "website": "https://azure.microsoft.com",
        "safeguards_url": "https://www.microsoft.com/licensing/docs/view/Microsoft-Products-and-Services-Data-Protection-Addendum-DPA",
        "since": "2021-04-01",
    },
    {
        "name": "Amazon Web Services",
        "legal_entity": "Amazon Web Services EMEA SARL",
        "purpose": "Object storage for file attachments and disaster-recovery copies.",
        "data_categories": ["Customer content"],
        "locations": ["DE"],
        "corporate_location": "LU",
        "transfer_mechanisms": ["none"],
        "website": "https://aws.amazon.com",
        "safeguards_url": "https://aws.amazon.com/compliance/gdpr-center/",
        "since": "2021-04-01",
    },
    {
        "name": "Twilio SendGrid",
        "legal_entity": "Twilio Inc.",
        "purpose": "Delivery of transactional email (sign-in links, notifications, invoices).",
        "data_categories": ["Name", "Email address", "Email content"],
        "locations": ["US"],
        "corporate_location": "US",
        "transfer_mechanisms": ["dpf", "scc"],
        "website": "https://sendgrid.com",
        "safeguards_url": "https://www.twilio.com/en-us/legal/data-protection-addendum",
        "since": "2021-06-15",
    },
    {
        "name": "Zendesk",
        "legal_entity": "Zendesk, Inc.",
        "purpose": "Customer support ticketing and help centre.",
        "data_categories": ["Name", "Email address", "Support messages"],
        "locations": ["US", "DE"],
        "corporate_location": "US",
        "transfer_mechanisms": ["bcr"],
        "website": "https://www.zendesk.com",
        "safeguards_url": "https://www.zendesk.com/company/agreements-and-terms/data-processing-agreement/",
        "since": "2021-09-01",
    },
    {
        "name": "Stripe",
        "legal_entity": "Stripe Payments Europe, Limited",
        "purpose": "Payment processing and billing.",
        "data_categories": ["Name", "Billing address", "Payment card data"],
        "locations": ["IE", "US"],
        "corporate_location": "IE",
        "transfer_mechanisms": ["dpf", "scc"],
        "website": "https://stripe.com",
        "safeguards_url": "https://stripe.com/legal/dpa",
        "since": "2022-01-10",
    },
    {
        "name": "Datadog",
        "legal_entity": "Datadog, Inc.",
        "purpose": "Application monitoring and log analysis.",
        "data_categories": ["IP address", "Usage logs"],
        "locations": ["DE"],
        "corporate_location": "US",
        "transfer_mechanisms": ["scc"],
        "website": "https://www.datadoghq.com",
        "safeguards_url": "https://www.datadoghq.com/legal/data-processing-addendum/",
        "since": "2022-05-02",
    },
    {
        "name": "Cloudflare",
        "legal_entity": "Cloudflare, Inc.",
        "purpose": "Content delivery, DDoS protection and DNS.",
        "data_categories": ["IP address", "Request metadata"],
        "locations": ["US", "DE", "SG"],
        "corporate_location": "US",
        "transfer_mechanisms": ["dpf"],
        "website": "https://www.cloudflare.com",
        "safeguards_url": "https://www.cloudflare.com/cloudflare-customer-dpa/",
        "since": "2021-04-01",
    },
    {
        "name": "Example Cloud GmbH",
        "legal_entity": "Example Cloud GmbH",
        "purpose": "Second-line support and operations from our German affiliate.",
        "data_categories": ["Account data", "Support messages"],
        "locations": ["DE"],
        "corporate_location": "DE",
        "transfer_mechanisms": ["none"],
        "kind": "affiliate",
        "website": "https://example.com",
        "since": "2021-04-01",
    },
    {
        "name": "Northwind Consulting",
        "legal_entity": "Northwind Consulting s.r.o.",
        "purpose": "Contract engineers who may access production data to resolve incidents.",
        "data_categories": ["Account data", "Customer content"],
        "locations": ["CZ"],
        "corporate_location": "CZ",
        "transfer_mechanisms": ["none"],
        "kind": "subcontractor",
        "since": "2023-02-01",
    },
]

WEBSITE: list[dict[str, Any]] = [
    {
        "name": "Plausible Analytics",
        "legal_entity": "Plausible Insights OÜ",
        "purpose": "Privacy-friendly, cookie-less visitor statistics for the marketing website.",
        "data_categories": ["Truncated IP address", "Pages visited"],
        "locations": ["DE"],
        "corporate_location": "EE",
        "transfer_mechanisms": ["none"],
        "website": "https://plausible.io",
        "since": "2023-03-01",
    },
    {
        "name": "HubSpot",
        "legal_entity": "HubSpot, Inc.",
        "purpose": "Contact forms and newsletter sign-ups on the marketing website.",
        "data_categories": ["Name", "Email address", "Company"],
        "locations": ["DE", "US"],
        "corporate_location": "US",
        "transfer_mechanisms": ["dpf"],
        "website": "https://www.hubspot.com",
        "safeguards_url": "https://legal.hubspot.com/dpa",
        "since": "2022-08-01",
    },
]


def _announce_and_apply(
    session: Session,
    register_list: RegisterList,
    drafts: list[tuple[str, str | None, dict[str, Any] | None]],
    *,
    reason: str,
    announced: datetime,
    effective: datetime,
) -> Notice:
    changes = [
        workflow.draft_change(session, register_list, action, processor=slug, fields=fields, now=announced)
        for action, slug, fields in drafts
    ]
    notice = workflow.announce(
        session, register_list, changes, reason=reason, effective_at=effective, now=announced
    )
    workflow.apply_notice(session, notice.id, effective)
    return notice


def load(session: Session, now: datetime) -> None:
    """Create the demo lists; times are relative to ``now`` so the demo always looks current."""
    start = (now - timedelta(days=540)).replace(hour=9, minute=0, second=0, microsecond=0)
    lists = services.create_list(
        session,
        slug="sub-processors",
        title="Sub-processors",
        introduction=(
            "Example Cloud Ltd uses the following sub-processors to provide the Example Cloud "
            "service. We announce new or replaced sub-processors at least 30 days before they "
            "start processing personal data, so that customers can object."
        ),
        now=start,
    )
    changes = [
        workflow.draft_change(session, lists, ChangeAction.ADD, fields=entry, now=start) for entry in INITIAL
    ]
    workflow.publish_first_version(
        session, lists, changes, reason="First publication of the list.", now=start
    )

    at = start + timedelta(days=90)
    _announce_and_apply(
        session,
        lists,
        [
            (
                "add",
                None,
                {
                    "name": "Sentry",
                    "legal_entity": "Functional Software, Inc.",
                    "purpose": "Error tracking for the web application.",
                    "data_categories": ["IP address", "Usage logs"],
                    "locations": ["DE"],
                    "corporate_location": "US",
                    "transfer_mechanisms": ["scc"],
                    "website": "https://sentry.io",
                    "safeguards_url": "https://sentry.io/legal/dpa/",
                    "since": (at + timedelta(days=31)).date().isoformat(),
                },
            )
        ],
        reason="We are adding Sentry to find and fix errors in the application faster.",
        announced=at,
        effective=at + timedelta(days=31),
    )

    at = start + timedelta(days=200)
    correction = workflow.draft_change(
        session,
        lists,
        ChangeAction.UPDATE,
        processor="datadog",
        fields={
            **_current(session, lists, "datadog"),
            "purpose": "Application performance monitoring and log analysis.",
        },
        now=at,
    )
    workflow.correct(session, lists, [correction], reason="Clarified Datadog's purpose.", now=at)

    at = start + timedelta(days=260)
    _announce_and_apply(
        session,
        lists,
        [
            (
                "replace",
                "zendesk",
                {
                    "name": "Intercom",
                    "legal_entity": "Intercom R&D Unlimited Company",
                    "purpose": "Customer support messaging and help centre.",
                    "data_categories": ["Name", "Email address", "Support messages"],
                    "locations": ["IE", "US"],
                    "corporate_location": "IE",
                    "transfer_mechanisms": ["dpf"],
                    "website": "https://www.intercom.com",
                    "safeguards_url": "https://www.intercom.com/legal/data-processing-agreement",
                    "since": (at + timedelta(days=35)).date().isoformat(),
                },
            ),
            (
                "update",
                "cloudflare",
                {**_current(session, lists, "cloudflare"), "locations": ["US", "DE", "SG", "JP"]},
            ),
        ],
        reason=(
            "We are moving customer support from Zendesk to Intercom, and Cloudflare will also "
            "serve requests from Japan."
        ),
        announced=at,
        effective=at + timedelta(days=35),
    )

    at = start + timedelta(days=400)
    _announce_and_apply(
        session,
        lists,
        [("retire", "northwind-consulting", None)],
        reason="Our contract with Northwind Consulting has ended; they no longer have access to any data.",
        announced=at,
        effective=at + timedelta(days=30),
    )

    # Announced ten days ago, taking effect in three weeks: shown as upcoming.
    at = now - timedelta(days=10)
    drafts = [
        workflow.draft_change(
            session,
            lists,
            ChangeAction.ADD,
            fields={
                "name": "OpenAI",
                "legal_entity": "OpenAI Ireland Limited",
                "purpose": "Generates summaries and suggested replies when AI features are enabled.",
                "data_categories": ["Customer content"],
                "locations": ["US"],
                "corporate_location": "IE",
                "transfer_mechanisms": ["dpf"],
                "website": "https://openai.com",
                "safeguards_url": "https://openai.com/policies/data-processing-addendum/",
                "scope": "Only for workspaces where an administrator has turned AI features on.",
            },
            now=at,
        )
    ]
    workflow.announce(
        session,
        lists,
        drafts,
        reason=(
            "We are introducing optional AI features, which use OpenAI to process the content they act on."
        ),
        effective_at=(now + timedelta(days=21)).replace(hour=0, minute=0, second=0, microsecond=0),
        now=at,
    )

    website = services.create_list(
        session,
        slug="website",
        title="Website subcontractors",
        introduction="Providers that process visitors' personal data on our marketing website.",
        notice_period_days=14,
        now=start,
    )
    changes = [
        workflow.draft_change(session, website, ChangeAction.ADD, fields=entry, now=start)
        for entry in WEBSITE
    ]
    workflow.publish_first_version(
        session, website, changes, reason="First publication of the list.", now=start
    )


def _current(session: Session, register_list: RegisterList, slug: str) -> dict[str, Any]:
    version = services.latest_version(session, register_list)
    assert version is not None
    return next(entry for entry in version.snapshot if entry["id"] == slug)
