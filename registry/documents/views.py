"""Public pages of documents: the revision in force, every revision, the differences between
two revisions (word by word, and as a unified diff), and the Atom and RSS feeds.

Each representation is rendered once per document revision counter (see ``registry.caching``);
anything a reader can get wrong (an unknown slug or revision, a non-numeric number, ``from``
newer than ``to``) is a 4xx with a message saying what to fix. The text diff between two named
revisions is keyed by the two alone and kept by caches for a year; it and the feeds are
``@shared`` with scripts of any origin (see ``registry.cors``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import BadRequest

from registry.caching import conditional
from registry.cors import shared
from registry.documents import calendars, feeds, services
from registry.documents.diff import unified_diff, word_diff
from registry.documents.models import Document, DocumentRevision
from registry.documents.rendering import in_page
from registry.extensions import db
from registry.links import external_url
from registry.publishing.calendars import MIMETYPE as CALENDAR_MIMETYPE
from registry.publishing.calendars import calendar_day, render_calendar, start_of
from registry.timeutil import utcnow

bp = Blueprint("documents", __name__, url_prefix="/documents")


@bp.record_once
def _register_filters(state: BlueprintSetupState) -> None:
    """A revision's text inside a page, ``{{ revision.rendered|in_page }}`` (the admin's too)."""
    state.app.jinja_env.filters["in_page"] = in_page


_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# A past revision and a diff between two never change; only what the page says around them does.
_REVISION_MAX_AGE = 86400


def _document(slug: str) -> Document:
    document = services.get_document(db.session, slug) if _SLUG.fullmatch(slug) else None
    # A document is public from its first public revision (in force, or announced).
    if document is None or not (document.current_number or services.public_numbers(db.session, document)):
        abort(404, f"There is no document called “{slug[:64]}”.")
    return document


def _number(value: str | None, name: str = "revision") -> int:
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise BadRequest(f"The {name} must be a revision number such as 1, 2 or 3, not “{value[:20]}”.")
    return int(value)


def _revision(document: Document, number: int) -> DocumentRevision:
    found = services.revision_by_number(db.session, document, number)
    if found is None:
        latest = max(services.public_numbers(db.session, document), default=0)
        abort(404, f"“{document.title}” has no revision {number}; the latest is {latest}.")
    return found


def _state(document: Document) -> tuple[int, int, str]:
    """What names this state of the document in a stored answer's key (a rebuilt database that
    reuses a revision counter at another time gives other keys)."""
    return document.id, document.revision, document.changed_at.isoformat()


def _html(template: str, **context: Any) -> Callable[[], bytes]:
    return lambda: render_template(template, **context).encode()


@bp.get("")
def index() -> Response:
    documents = services.all_documents(db.session)
    key = ("documents", tuple((d.id, d.revision) for d in documents))
    changed = max((d.changed_at for d in documents), default=datetime(2000, 1, 1, tzinfo=UTC))

    def render() -> bytes:
        shown = [
            (d, services.current_revision(db.session, d), services.upcoming_revision(db.session, d))
            for d in documents
        ]
        shown = [(d, current, upcoming) for d, current, upcoming in shown if current or upcoming]
        return render_template("documents/index.html", documents=shown).encode()

    return conditional(key, changed, render, "text/html")


@bp.get("/<slug>")
def page(slug: str) -> Response:
    document = _document(slug)
    key = ("document", *_state(document))

    def render() -> bytes:
        return render_template(
            "documents/page.html",
            document=document,
            current=services.current_revision(db.session, document),
            upcoming=services.upcoming_revision(db.session, document),
        ).encode()

    return conditional(key, document.changed_at, render, "text/html", store=True, family=key[:2])


@bp.get("/<slug>/revisions")
def revisions(slug: str) -> Response:
    document = _document(slug)
    key = ("document.revisions", *_state(document))
    render = _html(
        "documents/revisions.html",
        document=document,
        revisions=services.public_revisions(db.session, document),
    )
    return conditional(key, document.changed_at, render, "text/html", store=True, family=key[:2])


@bp.get("/<slug>/revisions/<number>")
def revision(slug: str, number: str) -> Response:
    document = _document(slug)
    found = _revision(document, _number(number))
    key = ("document.revision", document.id, document.revision, found.number)
    render = _html(
        "documents/revision.html",
        document=document,
        revision=found,
        previous=services.previous_public(db.session, found),
    )
    # The page says whether this revision is still in force: kept no longer than the document,
    # and stored for every worker (the next revision of the document replaces its row).
    return conditional(
        key, document.changed_at, render, "text/html", store=True, family=(key[0], key[1], key[3])
    )


def _public_since(revision: DocumentRevision) -> datetime:
    """When a revision got its number and its frozen text: set once, so a fit Last-Modified."""
    moment = revision.announced_at or revision.published_at
    assert moment is not None, "a numbered revision has been announced or published"
    return moment


def _diff_pair(document: Document) -> tuple[DocumentRevision, DocumentRevision]:
    """The revisions named by ``from`` and ``to`` (default: the one in force and the one before)."""
    numbers = services.public_numbers(db.session, document)
    default_to = document.current_number or max(numbers)
    to_number = _number(request.args.get("to") or str(default_to), "“to” revision")
    if request.args.get("from"):
        from_number = _number(request.args.get("from"), "“from” revision")
    else:
        from_number = max((n for n in numbers if n < to_number), default=to_number)
    if from_number > to_number:
        raise BadRequest(
            f"The “from” revision ({from_number}) must not be newer than the “to” revision "
            f"({to_number}); swap them to see what changed."
        )
    new = _revision(document, to_number)
    return _revision(document, from_number), new


@bp.get("/<slug>/diff")
def diff(slug: str) -> Response:
    document = _document(slug)
    old, new = _diff_pair(document)
    key = ("document.diff", document.id, document.revision, old.number, new.number)

    def render() -> bytes:
        # Compared only on a miss: a 304 or a stored answer never diffs.
        return render_template(
            "documents/diff.html",
            document=document,
            old=old,
            new=new,
            diff=word_diff(in_page(old.rendered), in_page(new.rendered)),
            numbers=services.public_numbers(db.session, document),
        ).encode()

    # Stored for every worker, one row per pair: the document's next revision replaces it.
    return conditional(
        key,
        document.changed_at,
        render,
        "text/html",
        max_age=_REVISION_MAX_AGE,
        store=True,
        family=(key[0], key[1], *key[3:]),
    )


@bp.get("/<slug>/diff.txt")
@shared
def diff_txt(slug: str) -> Response:
    document = _document(slug)
    old, new = _diff_pair(document)
    # Both texts are frozen once public (the ORM refuses a change): the bytes are theirs alone.
    # Without both numbers named, the address moves on with the document: its max-age, not a year.
    key = ("document.diff.txt", document.id, document.slug, old.number, old.uuid, new.number, new.uuid)
    both_named = bool(request.args.get("from", "").strip() and request.args.get("to", "").strip())
    changed = max(_public_since(old), _public_since(new))

    def render() -> bytes:
        return unified_diff(
            old.body,
            new.body,
            old_name=f"{document.slug}/revisions/{old.number}",
            new_name=f"{document.slug}/revisions/{new.number}",
        ).encode()

    return conditional(key, changed, render, "text/plain", immutable=both_named, store=True)


# --- feeds ------------------------------------------------------------------------------------


def _feed(slug: str, fmt: feeds.FeedFormat) -> Response:
    document = _document(slug)

    def render() -> bytes:
        company = current_app.config["COMPANY_NAME"]
        info = feeds.FeedInfo(
            title=f"{document.title}: revisions · {company}",
            description=f"Every revision of {company}'s {document.title}, announced before it takes effect.",
            feed_id=external_url("documents.feed_atom", slug=document.slug),
            page_url=external_url("documents.page", slug=document.slug),
            self_url=external_url(f"documents.feed_{fmt}", slug=document.slug),
            author=company,
            updated_when_empty=document.changed_at,
        )
        return feeds.render_feed(fmt, info, services.public_revisions(db.session, document))

    key = ("document.feed", fmt, *_state(document))
    return conditional(key, document.changed_at, render, feeds.MIMETYPES[fmt], store=True, family=key[:3])


@bp.get("/<slug>/feed.atom")
@shared
def feed_atom(slug: str) -> Response:
    return _feed(slug, "atom")


@bp.get("/<slug>/feed.rss")
@shared
def feed_rss(slug: str) -> Response:
    return _feed(slug, "rss")


# --- calendar ---------------------------------------------------------------------------------


@bp.get("/<slug>/calendar.ics")
@shared
def calendar(slug: str) -> Response:
    """The day each announced revision takes effect (see ``registry.documents.calendars``); keyed
    by the day too, as past events leave its window."""
    document = _document(slug)
    today = calendar_day(utcnow())

    def render() -> bytes:
        events = calendars.calendar_events(db.session, document, today)
        self_url = external_url("documents.calendar", slug=document.slug)
        name, description = calendars.calendar_name(document), calendars.calendar_description(document)
        return render_calendar(name, description, self_url, events)

    key = ("document.calendar", document.id, document.revision, today.isoformat())
    return conditional(key, max(document.changed_at, start_of(today)), render, CALENDAR_MIMETYPE)
