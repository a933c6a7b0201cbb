"""Emails: one template folder per message (``templates/email/<name>/``) and what each one says.

``compose`` turns a notification into a Flask-Mail message with everything a mail client and a
mail server expect of list mail: a stable Message-ID (so a resend after a crash is recognisably
the same message), List-Id, and RFC 8058 one-click unsubscribe.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.documents.models import Document, DocumentRevision
from registry.documents.services import (
    diff_url,
    published_at_once,
    revision_notice_title,
    revision_url,
    upcoming_revision,
)
from registry.links import external_url, mail_domain
from registry.lists.diff import field_changes
from registry.lists.links import external_list_url
from registry.lists.models import Change, Notice, NoticeKind, RegisterList
from registry.lists.services import announced_notices
from registry.lists.wording import change_headline, notice_title
from registry.notifications.models import Notification, NotificationKind
from registry.smtp import EncodedText, OutgoingMessage
from registry.subscriptions import tokens
from registry.subscriptions.models import Frequency, Subscriber, SubscriberStatus


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def render_email(name: str, **context: Any) -> Email:
    """Render ``templates/email/<name>/{subject.txt,body.txt,body.html}`` (HTML autoescaped)."""
    env = current_app.jinja_env
    context.setdefault("company", current_app.config["COMPANY_NAME"])
    subject = env.get_template(f"email/{name}/subject.txt").render(context)
    return Email(
        subject=" ".join(subject.split()),  # one line, whatever the template's whitespace
        text=env.get_template(f"email/{name}/body.txt").render(context),
        html=env.get_template(f"email/{name}/body.html").render(context),
    )


def message_id(notification: Notification, domain: str) -> str:
    """The same for every attempt at one notification, so duplicates are recognisable."""
    return _message_id(notification.id, notification.kind, domain)


def _message_id(notification_id: int, kind: NotificationKind, domain: str) -> str:
    return f"<notification.{notification_id}.{kind.value}@{domain}>"


def notice_context(notice: Notice) -> dict[str, Any]:
    """What a notice email says about the notice, the same for every subscriber."""
    register_list = notice.register_list
    announced = notice.withdraws if notice.kind is NoticeKind.WITHDRAWAL else notice
    changes: list[Change] = list(announced.changes) if announced is not None else []
    context: dict[str, Any] = {
        "notice": notice,
        "announced": announced,
        "register_list": register_list,
        "changes": changes,
        "title": notice_title(notice),
        "describe": change_headline,
        "field_changes": field_changes,
        "list_url": external_list_url("page", register_list),
        "changes_url": external_list_url("changes", register_list),
    }
    if notice.kind is NoticeKind.ANNOUNCEMENT and notice.objection_deadline is not None:
        context["object_url"] = external_url("objections.object", reference=notice.uuid)
        # The list's calendar holds the deadline and the effective date of this and every notice.
        context["calendar_url"] = external_list_url("calendar", register_list)
    return context


REVISION_KINDS = (NotificationKind.REVISION, NotificationKind.REVISION_WITHDRAWAL)
# Messages to an objector (at the address on the objection, not a subscriber's).
OBJECTOR_KINDS = (NotificationKind.OBJECTION_RECEIPT, NotificationKind.OBJECTION_CLOSED)
# RFC 3834: sent by a program, so no vacation responder answers it.
_AUTOMATIC = {"Auto-Submitted": "auto-generated"}


def revision_context(revision: DocumentRevision, *, withdrawal: bool = False) -> dict[str, Any]:
    """What an email about a document revision says, the same for every subscriber."""
    document = revision.document
    return {
        "revision": revision,
        "document": document,
        "withdrawal": withdrawal,
        "correction": not withdrawal and published_at_once(revision),
        "title": revision_notice_title(revision, withdrawal=withdrawal),
        "revision_url": revision_url(revision),
        # The word diff against the revision in force when it was written (checked to be the one
        # in force when it was announced).
        "diff_url": diff_url(revision),
        "document_url": external_url("documents.page", slug=document.slug),
        "subscribed_to": f"“{document.title}”",
    }


def revision_list_id(revision: DocumentRevision) -> str:
    """The List-Id of a document's emails (apart from any list's, whatever the slugs)."""
    return f"{revision.document.slug}.documents"


_TOKEN = "registry-token-placeholder"  # noqa: S105  # replaced by each subscriber's token


class _Links:
    """A subscriber's manage and unsubscribe links: the URLs are built once, the tokens per
    subscriber. The body's manage link is signed anew for every email (it expires); the
    unsubscribe link, in the body and in ``List-Unsubscribe``, only unsubscribes."""

    def __init__(self) -> None:
        self.manage = external_url("subscriptions.manage", token=_TOKEN)
        self.unsubscribe = external_url("subscriptions.unsubscribe", token=_TOKEN)
        mailto = current_app.config["UNSUBSCRIBE_MAILTO"]
        self.mailto = f", <mailto:{mailto}?subject=unsubscribe>" if mailto else ""
        self.domain = mail_domain()
        self.sign_manage = tokens.signer(tokens.MANAGE)
        self.sign_unsubscribe = tokens.signer(tokens.UNSUBSCRIBE)

    def of(self, subscriber: Subscriber) -> dict[str, str]:
        return self.of_key(subscriber.token_key)

    def of_key(self, key: str) -> dict[str, str]:
        # Tokens are URL-safe: they need no quoting.
        return {
            "manage_url": self.manage.replace(_TOKEN, self.sign_manage(key)),
            "unsubscribe_url": self.unsubscribe.replace(_TOKEN, self.sign_unsubscribe(key)),
        }

    def headers(self, links: dict[str, str], list_id: str) -> dict[str, str]:
        return {
            "List-Id": f"<{list_id}.{self.domain}>",
            "List-Unsubscribe": f"<{links['unsubscribe_url']}>{self.mailto}",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        }


def _stand_ins() -> dict[str, str]:
    """Stand-ins for a subscriber's own links in a notice rendered once for all: plain letters,
    digits and hyphens, so HTML escaping leaves them as they are. Random per batch: an editor's
    text (a reason, an entry's name) can hold any fixed word, and that word would become each
    subscriber's link; no one writes a random one ahead."""
    nonce = secrets.token_hex(16)
    return {
        "manage_url": f"registry-manage-url-{nonce}",
        "unsubscribe_url": f"registry-unsubscribe-url-{nonce}",
    }


def preview_notice_email(notice: Notice) -> Email:
    """A notice's email exactly as subscribers will get it, with stand-ins for their own links:
    what an approver reads before the notice is published."""
    return render_email("notice", **notice_context(notice), **_PREVIEW_LINKS)


# How a subscriber's own links read in a preview.
_PREVIEW_LINKS = {
    "manage_url": "(each subscriber's own link to manage the subscription)",
    "unsubscribe_url": "(each subscriber's own one-click unsubscribe link)",
}


def _personalise(email: Email, links: dict[str, str], stand_ins: dict[str, str]) -> Email:
    def fill(text: str) -> str:
        for name, placeholder in stand_ins.items():
            text = text.replace(placeholder, links[name])
        return text

    return Email(fill(email.subject), fill(email.text), fill(email.html))


@dataclass(frozen=True)
class Encoded:
    """An email with its text parts encoded for the wire, all but the placeholders' lines: made
    once per rendered email, shared by every message it goes out in."""

    email: Email
    text: EncodedText
    html: EncodedText

    @classmethod
    def of(cls, email: Email, placeholders: Collection[str] = ()) -> Encoded:
        return cls(email, EncodedText(email.text, placeholders), EncodedText(email.html, placeholders))


@dataclass(frozen=True)
class Draft:
    """One message as plain data, ready to be built: safe to hand to another thread.

    A notice's email is rendered and encoded once for all its subscribers, with placeholders for
    the subscriber's own links; ``link_key`` (the subscriber's key) says whose links replace them.
    """

    encoded: Encoded
    recipient: str
    message_id: str
    headers: dict[str, str]
    list_id: str | None = None
    link_key: str | None = None

    @property
    def email(self) -> Email:
        return self.encoded.email


# The notifications whose email is the same for every subscriber but for their own links.
SUBSCRIBER_KINDS = (NotificationKind.NOTICE, NotificationKind.REMINDER, *REVISION_KINDS)


class Composer:
    """Builds messages for a batch, rendering each notice's shared part once.

    ``draft`` reads the database (call it where the session lives); ``build`` does not, so the
    sender can build the next message while the current one is on the wire.
    """

    def __init__(self, session: Session):
        self.session = session
        self._notices: dict[int, dict[str, Any]] = {}
        self._revisions: dict[tuple[int, bool], dict[str, Any]] = {}
        self._rendered: dict[tuple[str, int], tuple[Encoded, str]] = {}
        self._links = _Links()
        self._sender = current_app.config["MAIL_DEFAULT_SENDER"]
        self._domain = mail_domain()
        self._stand_ins = _stand_ins()

    def _notice(self, notice: Notice) -> dict[str, Any]:
        if notice.id not in self._notices:
            self._notices[notice.id] = notice_context(notice)
        return self._notices[notice.id]

    def _revision(self, revision: DocumentRevision, *, withdrawal: bool) -> dict[str, Any]:
        key = (revision.id, withdrawal)
        if key not in self._revisions:
            self._revisions[key] = revision_context(revision, withdrawal=withdrawal)
        return self._revisions[key]

    def recipient(self, notification: Notification) -> str | None:
        """Where the message goes, or None when there is no one to send it to any more."""
        if notification.kind in OBJECTOR_KINDS:
            email = notification.objection.email if notification.objection else None
            return email if email and "@" in email else None  # not once it has been erased
        subscriber = notification.subscriber
        if subscriber is None:
            return None
        if notification.kind in (NotificationKind.CONFIRMATION, NotificationKind.MANAGE_LINK):
            # A corrected address is confirmed from the new one, named in the context.
            return str((notification.context or {}).get("address") or subscriber.email)
        return self.subscriber_recipient(subscriber.email, subscriber.status)

    @staticmethod
    def subscriber_recipient(email: str | None, status: SubscriberStatus | None) -> str | None:
        """Where a notice, reminder or revision goes: to a confirmed subscriber only."""
        return email if status is SubscriberStatus.CONFIRMED else None

    def compose(self, notification: Notification, recipient: str) -> OutgoingMessage:
        return self.build(self.draft(notification, recipient))

    def draft(self, notification: Notification, recipient: str) -> Draft:
        if notification.kind in SUBSCRIBER_KINDS:
            subscriber = notification.subscriber
            assert subscriber is not None
            return self.subscriber_draft(
                notification.id,
                notification.kind,
                notice_id=notification.notice_id,
                revision_id=notification.revision_id,
                recipient=recipient,
                token_key=subscriber.token_key,
            )
        email, headers = self._render(notification)
        return Draft(Encoded.of(email), recipient, message_id(notification, self._domain), headers)

    def subscriber_draft(
        self,
        notification_id: int,
        kind: NotificationKind,
        *,
        notice_id: int | None,
        revision_id: int | None,
        recipient: str,
        token_key: str,
    ) -> Draft:
        """The draft of a notice, reminder or revision email from the notification's columns
        alone: the sender reads a batch of them without loading each notification."""
        if kind in REVISION_KINDS:
            assert revision_id is not None
            encoded, list_id = self._revision_email(kind, revision_id)
        else:
            assert notice_id is not None
            encoded, list_id = self._notice_email(kind, notice_id)
        identifier = _message_id(notification_id, kind, self._domain)
        return Draft(encoded, recipient, identifier, {}, list_id, token_key)

    def build(self, draft: Draft) -> OutgoingMessage:
        """The message, with the subscriber's own links filled in: reads nothing, renders nothing,
        and encodes only the lines of the links."""
        headers, values = draft.headers, {}
        subject = draft.email.subject
        if draft.link_key is not None and draft.list_id is not None:
            links = self._links.of_key(draft.link_key)
            values = {placeholder: links[name] for name, placeholder in self._stand_ins.items()}
            subject = _personalise(Email(subject, "", ""), links, self._stand_ins).subject
            headers = self._links.headers(links, draft.list_id)
        text, text_encoded = draft.encoded.text.fill(values)
        html, html_encoded = draft.encoded.html.fill(values)
        return OutgoingMessage(
            subject=subject,
            recipients=[draft.recipient],
            body=text,
            html=html,
            sender=self._sender,
            extra_headers=headers,
            message_id=draft.message_id,
            encoded=(text_encoded, html_encoded),
        )

    def _notice_email(self, kind: NotificationKind, notice_id: int) -> tuple[Encoded, str]:
        """A notice's email with link placeholders, and its list's slug; rendered once per notice."""
        name = "reminder" if kind is NotificationKind.REMINDER else "notice"
        key = (name, notice_id)
        if key not in self._rendered:
            notice = self.session.get(Notice, notice_id)
            assert notice is not None
            context = self._notice(notice)
            email = render_email(name, **context, **self._stand_ins)
            self._rendered[key] = (
                Encoded.of(email, self._stand_ins.values()),
                context["register_list"].slug,
            )
        return self._rendered[key]

    def _revision_email(self, kind: NotificationKind, revision_id: int) -> tuple[Encoded, str]:
        """A revision's email with link placeholders, and its List-Id; rendered once per revision
        and kind (its announcement, its withdrawal)."""
        key = (kind.value, revision_id)
        if key not in self._rendered:
            revision = self.session.get(DocumentRevision, revision_id)
            assert revision is not None
            context = self._revision(revision, withdrawal=kind is NotificationKind.REVISION_WITHDRAWAL)
            email = render_email("revision", **context, **self._stand_ins)
            self._rendered[key] = (Encoded.of(email, self._stand_ins.values()), revision_list_id(revision))
        return self._rendered[key]

    def _render(self, notification: Notification) -> tuple[Email, dict[str, str]]:
        kind = notification.kind
        if kind is NotificationKind.OBJECTION_RECEIPT:
            objection = notification.objection
            assert objection is not None
            context = self._notice(objection.notice)
            return render_email("objection_receipt", objection=objection, **context), _AUTOMATIC
        if kind is NotificationKind.OBJECTION_CLOSED:
            objection = notification.objection
            assert objection is not None
            withdrawal = self.session.get(Notice, (notification.context or {}).get("withdrawal"))
            assert withdrawal is not None
            context = self._notice(withdrawal)
            return render_email("objection_closed", objection=objection, **context), _AUTOMATIC
        subscriber = notification.subscriber
        assert subscriber is not None
        links = self._links.of(subscriber)
        if kind is NotificationKind.CONFIRMATION:
            return self._confirmation(notification, subscriber), {"Auto-Submitted": "auto-generated"}
        if kind is NotificationKind.MANAGE_LINK:
            # Asked for from this inbox: a fresh link, which also shows, corrects and erases the
            # data, and so works for a short time only.
            fresh = external_url("subscriptions.manage", token=tokens.fresh_token(subscriber))
            minutes = current_app.config["FRESH_LINK_MAX_AGE_MINUTES"]
            return render_email("manage_link", manage_url=fresh, valid_minutes=minutes), _AUTOMATIC
        if kind is NotificationKind.DIGEST:
            bundled = self.session.scalars(
                select(Notification)
                .where(Notification.digest_id == notification.id)
                .order_by(Notification.id)
            ).all()
            notices = [
                self._notice(n.notice) | {"reminder": n.kind is NotificationKind.REMINDER}
                for n in bundled
                if n.notice is not None
            ]
            revisions = [
                self._revision(n.revision, withdrawal=n.kind is NotificationKind.REVISION_WITHDRAWAL)
                for n in bundled
                if n.revision is not None
            ]
            # The footer says what was subscribed to.
            about = "sub-processor lists and policies" if notices else "policies"
            extra = {"subscribed_to": about} if revisions else {}
            # The notices' changes are listed with the same helpers as in a notice email.
            helpers = {"describe": change_headline, "field_changes": field_changes}
            # As of when it was bundled: what took effect or closed by then is said to have done so.
            email = render_email(
                "digest",
                notices=notices,
                revisions=revisions,
                now=notification.created_at,
                **helpers,
                **links,
                **extra,
            )
            return email, self._links.headers(links, "digest")
        # Notices, reminders and revisions are drafted by ``subscriber_draft``.
        raise ValueError(f"no email for notifications of kind {kind}")

    def _confirmation(self, notification: Notification, subscriber: Subscriber) -> Email:
        context = notification.context or {}
        if context.get("address"):
            return self._address_change(subscriber, str(context["address"]))
        slugs = [str(slug) for slug in context.get("lists", [])]
        document_slugs = [str(slug) for slug in context.get("documents", [])]
        frequency = str(context.get("frequency", Frequency.EACH.value))
        lists = self.session.scalars(select(RegisterList).where(RegisterList.slug.in_(slugs))).all()
        documents = (
            self.session.scalars(
                select(Document).where(Document.slug.in_(document_slugs)).order_by(Document.position)
            ).all()
            if document_slugs
            else []
        )
        # The link confirms everything pending; the email names what this request asked for.
        token = tokens.confirmation_token(subscriber)
        hours = current_app.config["CONFIRMATION_MAX_AGE_SECONDS"] // 3600
        return render_email(
            "confirmation",
            lists=lists,
            documents=documents,
            upcoming=self._already_announced(lists, documents),
            weekly=frequency == Frequency.WEEKLY.value,
            confirm_url=external_url("subscriptions.confirm", token=token),
            valid_hours=hours,
        )

    def _already_announced(
        self, lists: Sequence[RegisterList], documents: Sequence[Document]
    ) -> list[dict[str, Any]]:
        """What was announced on these lists and documents before this sign-up and is still to
        take effect: its notice went out before this subscriber, so the confirmation tells it."""
        upcoming: list[dict[str, Any]] = []
        for register_list in lists:
            for notice in announced_notices(self.session, register_list):
                context = self._notice(notice)
                upcoming.append(
                    {
                        "title": context["title"],
                        "effective_at": notice.effective_at,
                        "objection_deadline": notice.objection_deadline,
                        "url": context["changes_url"],
                    }
                )
        for document in documents:
            revision = upcoming_revision(self.session, document)
            if revision is not None:
                context = self._revision(revision, withdrawal=False)
                upcoming.append(
                    {
                        "title": context["title"],
                        "effective_at": revision.effective_at,
                        "objection_deadline": None,
                        "url": context["diff_url"],
                    }
                )
        return upcoming

    def _address_change(self, subscriber: Subscriber, address: str) -> Email:
        token = tokens.address_token(subscriber, address)
        return render_email(
            "address_change",
            address=address,
            confirm_url=external_url("subscriptions.confirm_address", token=token),
            valid_hours=current_app.config["CONFIRMATION_MAX_AGE_SECONDS"] // 3600,
        )
