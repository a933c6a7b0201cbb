"""Public pages of the registry: the list, its versions, diff and change log, as HTML, JSON, CSV,
and the Atom and RSS feeds of its notices.

Every route exists twice: under ``/processors`` for the default list and under ``/lists/<slug>``.
Each response is rendered once per list revision (see ``registry.caching``); a past version, a
diff between two named versions and an older page of history are keyed by themselves alone,
stored for every worker (``registry.rendered``) and kept by caches for a year. Validators come
from stamps (the list's revision, version numbers and times), so a 304 is answered before
anything is loaded or rendered. The machine-readable ones are ``@shared`` with scripts of any
origin (see ``registry.cors``); the JSON ones link to the JSON Schema of what they answer (see
``registry.lists.contract``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request
from flask.blueprints import BlueprintSetupState
from markupsafe import Markup
from werkzeug.exceptions import BadRequest, ServiceUnavailable
from werkzeug.wrappers import Response as WerkzeugResponse

from registry.caching import conditional, fragment
from registry.cors import shared
from registry.extensions import db
from registry.links import external_url
from registry.lists import annex, contract, feeds, history, openapi, search, services, templating
from registry.lists.calendars import calendar_description, calendar_events, calendar_name
from registry.lists.diff import diff_snapshots, field_changes
from registry.lists.formats import (
    FilterError,
    Filters,
    history_json,
    json_bytes,
    list_json,
    to_csv,
    version_json_bytes,
)
from registry.lists.links import external_list_url, list_url
from registry.lists.models import RegisterList, Version
from registry.lists.stamps import ListStamp, ListStamps, VersionTimes
from registry.publishing.calendars import MIMETYPE as CALENDAR_MIMETYPE
from registry.publishing.calendars import calendar_day, render_calendar, start_of
from registry.security import embeddable
from registry.timeutil import UTC, parse_at, rfc3339, utcnow

bp = Blueprint("lists", __name__)
# Every template (the admin's and the emails' too) shows entries with the lists' labels.
bp.record_once(templating.register)


def _keep_search_texts(state: BlueprintSetupState) -> None:
    """Each app keeps the searchable texts of the versions readers search (see ``search``)."""
    state.app.extensions.setdefault("search_texts", search.SearchTexts())


bp.record_once(_keep_search_texts)


@bp.after_request
def _describe(response: Response) -> Response:
    """The one place the describedby link is set: on what a ``@contract.described_by`` view answers."""
    return contract.announce(current_app.view_functions.get(request.endpoint or ""), response)


_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# The diff page also offers the list's versions to pick from: kept a day, not for ever.
_VERSION_MAX_AGE = 86400


def _route(rule: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view for the default list (``/processors...``) and every list (``/lists/<slug>...``)."""

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        bp.add_url_rule(f"/processors{rule}", f"default_{view.__name__}", view, defaults={"slug": None})
        bp.add_url_rule(f"/lists/<slug>{rule}", view.__name__, view)
        return view

    return register


def _stamp(slug: str | None) -> ListStamp:
    """The list's id and revision, cheaply: what a cached representation is keyed by."""
    slug = slug or current_app.config["DEFAULT_LIST"]
    stamps: ListStamps = current_app.extensions["list_stamps"]
    stamp = stamps.get(slug, _load_stamp) if _SLUG.fullmatch(slug) else None
    if stamp is None:
        abort(404, f"There is no list called “{slug[:64]}”.")
    return stamp


def _load_stamp(slug: str) -> ListStamp | None:
    register_list = services.get_list(db.session, slug)
    if register_list is None:
        return None
    return ListStamp(
        register_list.id,
        register_list.slug,
        register_list.revision,
        register_list.changed_at,
        register_list.title,
        register_list.current_version,
    )


def _fresh_stamp(stamp: ListStamp) -> ListStamp:
    """The stamp read again from the database: before a 404 for a version this process has not
    heard of yet (another worker may have just published it)."""
    fresh = _load_stamp(stamp.slug)
    if fresh is None:
        abort(404, f"There is no list called “{stamp.slug}”.")
    return fresh


def _list_of(stamp: ListStamp) -> RegisterList:
    """The whole list, for rendering (a cache miss)."""
    register_list = db.session.get(RegisterList, stamp.id)
    if register_list is None:
        abort(404, f"There is no list called “{stamp.slug}”.")
    return register_list


def _find_list(slug: str | None) -> RegisterList:
    slug = slug or current_app.config["DEFAULT_LIST"]
    register_list = services.get_list(db.session, slug) if _SLUG.fullmatch(slug) else None
    if register_list is None:
        abort(404, f"There is no list called “{slug[:64]}”.")
    return register_list


def _version_number(value: str | None, name: str = "version") -> int:
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise BadRequest(f"The {name} must be a version number such as 1, 2 or 3, not “{value[:20]}”.")
    return int(value)


def _find_version(register_list: RegisterList, number: int, *, snapshot: bool = True) -> Version:
    version = services.get_version(db.session, register_list, number, snapshot=snapshot)
    if version is None:
        latest = register_list.current_version
        abort(404, f"“{register_list.title}” has no version {number}; the latest is {latest}.")
    return version


def _filters() -> Filters:
    try:
        return Filters.from_args(request.args)
    except FilterError as error:
        raise BadRequest(str(error)) from None


def _matching(filters: Filters, version: Version | None) -> list[dict[str, Any]]:
    """The entries of a version that pass the filters; a search reuses the version's texts."""
    entries = version.snapshot if version else []
    if version is None or not filters.query:
        return filters.apply(entries)
    cache: search.SearchTexts = current_app.extensions["search_texts"]
    texts = cache.of(("version", version.list_id, *_itself(version)), entries)
    return filters.apply(entries, texts)


def _named(response: Response, filename: str) -> Response:
    """A download that opens in the browser, under a name saying which list and version it is."""
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


# --- the lists --------------------------------------------------------------------------------


@bp.get("/")
def index() -> Response:
    lists = services.all_lists(db.session)
    key = ("index", tuple((lst.id, lst.revision) for lst in lists))
    changed = max((lst.changed_at for lst in lists), default=datetime(2000, 1, 1, tzinfo=UTC))

    def render() -> bytes:
        latest = {lst.id: services.latest_version(db.session, lst) for lst in lists}
        # What is about to change, list by list: the first thing a returning reader looks for.
        upcoming = {lst.id: services.upcoming_changes(db.session, lst) for lst in lists}
        return render_template("lists/index.html", lists=lists, latest=latest, upcoming=upcoming).encode()

    return conditional(key, changed, render, "text/html")


def _at(slug: str | None, endpoint: str, filters: Filters | None) -> WerkzeugResponse | None:
    """With ``?at=``: a redirect to the permanent URL of the version in force then, filters kept.

    None without ``at``. A bad ``at`` is a 400, a moment before the first version a 404: the
    current list is never answered for a past moment.
    """
    if "at" not in request.args:
        return None
    text = request.args["at"]
    try:
        moment, day = parse_at(text)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    register_list = _find_list(slug)
    version = services.version_at(db.session, register_list, moment)
    if version is None:
        first = services.get_version(db.session, register_list, 1)
        when = f"on {day.isoformat()}" if day else f"at {rfc3339(moment)}"
        if first is None:
            abort(404, f"“{register_list.title}” has no published version yet, so none {when}.")
        abort(
            404,
            f"“{register_list.title}” had no published version {when}: its first version was "
            f"published on {first.published_at.date().isoformat()} ({rfc3339(first.published_at)}).",
        )
    params = filters.params() if filters else {}
    return redirect(list_url(endpoint, register_list, number=version.number, **params))


@_route("")
def page(slug: str | None) -> WerkzeugResponse:
    filters = _filters()
    moved = _at(slug, "version", filters)
    if moved is not None:
        return moved
    stamp = _stamp(slug)

    def render() -> bytes:
        register_list = _list_of(stamp)
        version = services.latest_version(db.session, register_list)
        context = {
            "register_list": register_list,
            "version": version,
            "entries": _matching(filters, version),
            "all_entries": version.snapshot if version else [],
            "filters": filters,
            "clear_url": list_url("page", register_list),
        }

        def entries() -> str:
            return render_template("lists/_version_entries.html", **context)

        body = None
        if version is not None and not filters.active:
            # The version's entries, as on its own page: rendered once per process for both;
            # what moves with the list (upcoming changes) around them. The page itself is
            # stored, so the table keeps one current page per list, not one per version.
            body = fragment(("version", stamp.id, stamp.slug, *_itself(version)), entries, store=False)
        upcoming = filters.upcoming(services.upcoming_changes(db.session, register_list))
        return render_template("lists/page.html", body=body, upcoming=upcoming, **context).encode()

    key = ("page", *stamp.key, filters.key())
    return conditional(
        key, stamp.changed_at, render, "text/html", store=not filters.active, family=("page", stamp.id)
    )


@_route("/embed")
@embeddable
def embed(slug: str | None) -> WerkzeugResponse:
    """The list without the site around it, for the sites of FRAME_ANCESTORS to frame: the
    entries and the upcoming changes, and a link to the full page. Only this view may be framed."""
    stamp = _stamp(slug)

    def render() -> bytes:
        register_list = _list_of(stamp)
        version = services.latest_version(db.session, register_list)
        return render_template(
            "lists/embed.html",
            register_list=register_list,
            version=version,
            entries=version.snapshot if version else [],
            filters=Filters(),
            upcoming=services.upcoming_changes(db.session, register_list),
            page_url=external_list_url("page", register_list),
            link_target="_top",
        ).encode()

    return conditional(("embed", stamp.id, stamp.revision), stamp.changed_at, render, "text/html")


@_route(".json")
@shared
@contract.described_by("list")
def page_json(slug: str | None) -> WerkzeugResponse:
    filters = _filters()
    moved = _at(slug, "version_json", filters)
    if moved is not None:
        return moved
    stamp = _stamp(slug)

    def render() -> bytes:
        register_list = _list_of(stamp)
        version = services.latest_version(db.session, register_list)
        entries = _matching(filters, version)
        upcoming = filters.upcoming(services.upcoming_changes(db.session, register_list))
        return json_bytes(list_json(register_list, version, entries, upcoming))

    key = ("json", *stamp.key, filters.key())
    return conditional(
        key, stamp.changed_at, render, "application/json", store=not filters.active, family=("json", stamp.id)
    )


@_route(".csv")
@shared
def page_csv(slug: str | None) -> WerkzeugResponse:
    filters = _filters()
    moved = _at(slug, "version_csv", filters)
    if moved is not None:
        return moved
    stamp = _stamp(slug)

    def render() -> bytes:
        version = services.latest_version(db.session, _list_of(stamp))
        return to_csv(_matching(filters, version)).encode()

    key = ("csv", *stamp.key, filters.key())
    response = conditional(
        key, stamp.changed_at, render, "text/csv", store=not filters.active, family=("csv", stamp.id)
    )
    return _named(response, f"{stamp.slug}.csv")


# --- history ----------------------------------------------------------------------------------
# Paged, newest first (see ``registry.lists.history``): the first page moves with the list; an
# older page holds the same versions for ever, so it is stored and kept like a version.


def _history_page(stamp: ListStamp, endpoint: str) -> history.HistoryPage | WerkzeugResponse:
    """The page ``?before=`` names, or a redirect to the first page while that one is not complete."""
    before = request.args.get("before")
    number = _version_number(before, "“before” version") if before is not None else None
    size = current_app.config["HISTORY_PAGE_SIZE"]
    try:
        found = history.page_of(stamp.current_version, number, size)
    except history.PageError as error:
        raise BadRequest(str(error)) from None
    if found is None and number is not None and number <= stamp.current_version + size:
        # Perhaps another worker published since this process last looked.
        stamp = _fresh_stamp(stamp)
        found = history.page_of(stamp.current_version, number, size)
    if found is None:
        return redirect(list_url(endpoint, _list_of(stamp)))
    return found


def _history_validators(stamp: ListStamp, page: history.HistoryPage, name: str) -> tuple[Any, datetime]:
    """An older page's key and time: its versions' alone, never the list's revision."""
    if page.before is None:
        return (name, *stamp.key), stamp.changed_at
    times = _version_times(stamp.id, [page.highest, page.before])
    if page.highest not in times or page.before not in times:
        abort(404, f"“{stamp.title}” has no such page of history.")
    key = (name, stamp.id, stamp.slug, stamp.title, page.before, times[page.highest].isoformat())
    # The change log's page also holds the withdrawals up to the next version.
    return key, times[page.before] if name.startswith("changes") else times[page.highest]


def _family(key: Any, page: history.HistoryPage) -> Any:
    """The first page moves with the list: its stored row replaces the one of the revision before."""
    return (key[0], key[1]) if page.is_first else None


def _page_links(
    stamp: ListStamp,
    endpoint: str,
    page: history.HistoryPage,
    url: Callable[..., str] = list_url,
) -> dict[str, str | None]:
    """The pages around this one (``url``: ``external_list_url`` for JSON, absolute links)."""
    register_list = _list_of(stamp)
    return {
        "next": url(endpoint, register_list, before=page.older) if page.older else None,
        "prev": url(endpoint, register_list, before=page.newer) if page.newer else None,
        "first": url(endpoint, register_list) if not page.is_first else None,
    }


def _paged(
    slug: str | None,
    endpoint: str,
    mimetype: str,
    render: Callable[[ListStamp, history.HistoryPage], bytes],
) -> WerkzeugResponse:
    """One page of a list's history (``?before=``), as ``render`` makes it: an older page is
    keyed by its own versions and immutable, the first moves with the list; both are stored for
    every worker, and a 304 is answered from the stamps alone."""
    stamp = _stamp(slug)
    page = _history_page(stamp, endpoint)
    if not isinstance(page, history.HistoryPage):
        return page
    name = endpoint.replace("_json", ".json")
    key, changed = _history_validators(stamp, page, name)
    return conditional(
        key,
        changed,
        lambda: render(stamp, page),
        mimetype,
        immutable=not page.is_first,
        store=True,
        family=_family(key, page),
    )


@_route("/changes")
def changes(slug: str | None) -> WerkzeugResponse:
    def render(stamp: ListStamp, page: history.HistoryPage) -> bytes:
        register_list = _list_of(stamp)
        return render_template(
            "lists/changes.html",
            register_list=register_list,
            timeline=_timeline(stamp, page),
            page=page,
            links=_page_links(stamp, "changes", page),
            upcoming=services.upcoming_changes(db.session, register_list) if page.is_first else [],
            field_changes=field_changes,
        ).encode()

    return _paged(slug, "changes", "text/html", render)


@_route("/changes.json")
@shared
@contract.described_by("changes")
def changes_json(slug: str | None) -> WerkzeugResponse:
    def render(stamp: ListStamp, page: history.HistoryPage) -> bytes:
        register_list = _list_of(stamp)
        document = history_json(
            register_list,
            _timeline(stamp, page),
            services.upcoming_changes(db.session, register_list) if page.is_first else None,
            _page_links(stamp, "changes_json", page, external_list_url),
            lambda number: external_list_url("version_json", register_list, number=number),
        )
        return json_bytes(document)

    return _paged(slug, "changes_json", "application/json", render)


def _timeline(stamp: ListStamp, page: history.HistoryPage) -> list[tuple[datetime, str, Any]]:
    """One page of the change log, newest first: its versions, and the withdrawals made while
    they were the newest (each withdrawal on exactly one page)."""
    versions = history.page_versions(db.session, stamp.id, page)
    since = versions[-1].published_at if versions and page.lowest > 1 else None
    until = None
    if page.before is not None:
        until = _version_times(stamp.id, [page.before])[page.before]
    withdrawals = history.page_withdrawals(db.session, stamp.id, since, until)
    timeline: list[tuple[datetime, str, Any]] = [(v.published_at, "version", v) for v in versions]
    timeline += [(n.announced_at, "withdrawal", n) for n in withdrawals if n.announced_at is not None]
    timeline.sort(key=lambda item: item[0], reverse=True)
    return timeline


@_route("/versions")
def versions(slug: str | None) -> WerkzeugResponse:
    moved = _at(slug, "version", None)
    if moved is not None:
        return moved

    def render(stamp: ListStamp, page: history.HistoryPage) -> bytes:
        return render_template(
            "lists/versions.html",
            register_list=_list_of(stamp),
            versions=history.page_versions(db.session, stamp.id, page),
            counts=history.entry_counts(db.session, stamp.id, page),
            page=page,
            links=_page_links(stamp, "versions", page),
        ).encode()

    return _paged(slug, "versions", "text/html", render)


@_route("/versions.json")
@shared
@contract.described_by("versions")
def versions_json(slug: str | None) -> WerkzeugResponse:
    def render(stamp: ListStamp, page: history.HistoryPage) -> bytes:
        register_list = _list_of(stamp)
        counts = history.entry_counts(db.session, stamp.id, page)
        document = {
            "list": {"slug": stamp.slug, "title": stamp.title},
            "versions": [
                {
                    "number": v.number,
                    "published_at": rfc3339(v.published_at),
                    "reason": v.reason,
                    "entries": counts.get(v.number, 0),
                    "url": external_list_url("version_json", register_list, number=v.number),
                }
                for v in history.page_versions(db.session, stamp.id, page)
            ],
            "links": _page_links(stamp, "versions_json", page, external_list_url),
        }
        return json_bytes(document)

    return _paged(slug, "versions_json", "application/json", render)


def _existing(stamp: ListStamp, number: int) -> int:
    """``number`` if the list has that version (versions are numbered without gaps), else a 404."""
    if number < 1 or number > stamp.current_version:
        stamp = _fresh_stamp(stamp)
    if number < 1 or number > stamp.current_version:
        abort(404, f"“{stamp.title}” has no version {number}; the latest is {stamp.current_version}.")
    return number


def _version_times(list_id: int, numbers: list[int]) -> dict[int, datetime]:
    """When these versions were published, from this process's memory once it has read them."""
    known: VersionTimes = current_app.extensions["version_times"]
    return known.get(list_id, numbers, lambda lid, wanted: history.version_times(db.session, lid, wanted))


def _published(stamp: ListStamp, *numbers: int) -> list[datetime]:
    """When these versions were published: one small query, no entries."""
    times = _version_times(stamp.id, list(numbers))
    missing = [n for n in numbers if n not in times]
    if missing:
        abort(404, f"“{stamp.title}” has no version {missing[0]}; the latest is {stamp.current_version}.")
    return [times[n] for n in numbers]


@_route("/versions/<number>")
def version(slug: str | None, number: str) -> Response:
    stamp = _stamp(slug)
    wanted = _existing(stamp, _version_number(number))
    filters = _filters()
    # The page says whether this is still the current version: it is kept no longer than the list.
    key = ("version", *stamp.key, wanted, filters.key())

    def render() -> bytes:
        register_list = _list_of(stamp)
        found = _find_version(register_list, wanted)
        context = {
            "register_list": register_list,
            "version": found,
            "entries": _matching(filters, found),
            "all_entries": found.snapshot,
            "filters": filters,
            "clear_url": list_url("version", register_list, number=found.number),
            # What a reader compares with the PDF annex's footer.
            "json_sha256": annex.json_sha256(register_list, found),
        }

        def entries() -> str:
            return render_template("lists/_version_entries.html", **context)

        # The entries never change: rendered once per installation, the page around them per revision.
        itself = ("version", stamp.id, stamp.slug, *_itself(found))
        # Filtered, it is the reader's own: rendered here, never stored (our template's output).
        body = Markup(entries()) if filters.active else fragment(itself, entries)  # noqa: S704
        return render_template("lists/version.html", body=body, **context).encode()

    # Stored for every worker, one row per version: the next revision's page replaces it.
    return conditional(
        key,
        stamp.changed_at,
        render,
        "text/html",
        store=not filters.active,
        family=("version", stamp.id, wanted),
    )


@_route("/versions/<number>.json")
@shared
@contract.described_by("version")
def version_json(slug: str | None, number: str) -> Response:
    stamp = _stamp(slug)
    wanted = _existing(stamp, _version_number(number))
    (published,) = _published(stamp, wanted)
    filters = _filters()
    # The bytes are the version's and the list's name: nothing the list does later moves them.
    key = ("version.json", stamp.id, stamp.title, wanted, published.isoformat(), *filters.key())

    def render() -> bytes:
        register_list = _list_of(stamp)
        found = _find_version(register_list, wanted)
        return version_json_bytes(register_list, found, _matching(filters, found))

    return conditional(key, published, render, "application/json", immutable=True, store=not filters.active)


@_route("/versions/<number>.csv")
@shared
def version_csv(slug: str | None, number: str) -> Response:
    stamp = _stamp(slug)
    wanted = _existing(stamp, _version_number(number))
    (published,) = _published(stamp, wanted)
    filters = _filters()
    key = ("version.csv", stamp.id, wanted, published.isoformat(), *filters.key())

    def render() -> bytes:
        found = _find_version(_list_of(stamp), wanted)
        return to_csv(_matching(filters, found)).encode()

    response = conditional(key, published, render, "text/csv", immutable=True, store=not filters.active)
    return _named(response, f"{stamp.slug}-v{wanted}.csv")


@_route("/versions/<number>.pdf")
@shared
def version_pdf(slug: str | None, number: str) -> Response:
    """The version as a PDF for a DPA annex (``registry.lists.annex``): immutable and stored, as
    the version's JSON is. A long list's annex takes minutes to lay out, so it is made by the
    scheduler (``lists.jobs.prepare_annexes``); until then its reader is told to come back."""
    stamp = _stamp(slug)
    wanted = _existing(stamp, _version_number(number))
    (published,) = _published(stamp, wanted)
    key = annex.annex_key(stamp.id, stamp.title, wanted, published)

    def render() -> bytes:
        # Called only when the annex is stored nowhere yet.
        register_list = _list_of(stamp)
        found = _find_version(register_list, wanted)
        if annex.too_long_to_render_now(found):
            raise ServiceUnavailable(
                f"The PDF of version {wanted} is being prepared; it will be ready in a few minutes. "
                "The same list is available now as JSON and CSV.",
                retry_after=current_app.config["ANNEX_RETRY_AFTER_SECONDS"],
            )
        try:
            return annex.version_pdf(register_list, found)
        except annex.AnnexUnavailable as error:
            raise ServiceUnavailable(str(error)) from None

    response = conditional(key, published, render, annex.MIMETYPE, immutable=True, store=True)
    return _named(response, f"{stamp.slug}-v{wanted}.pdf")


def _itself(version: Version) -> tuple[int, str]:
    """What names a version for ever: its number and publication time (a rebuilt database that
    reuses the number at another time gives other validators)."""
    return version.number, version.published_at.isoformat()


def _both_named() -> bool:
    """Whether ``from`` and ``to`` are both given: only then does a diff's address never change meaning."""
    return bool(request.args.get("from", "").strip() and request.args.get("to", "").strip())


def _diff_numbers(stamp: ListStamp) -> tuple[int, int]:
    """The two versions named by ``from`` and ``to`` (default: the latest and the one before)."""
    if stamp.current_version == 0:
        stamp = _fresh_stamp(stamp)
    latest = stamp.current_version
    if latest == 0:
        abort(404, f"“{stamp.title}” has no published version yet.")
    to_number = _version_number(request.args.get("to") or str(latest), "“to” version")
    from_number = _version_number(request.args.get("from") or str(max(to_number - 1, 1)), "“from” version")
    if from_number > to_number:
        raise BadRequest(
            f"The “from” version ({from_number}) must not be newer than the “to” version "
            f"({to_number}); swap them to see what changed."
        )
    _existing(stamp, to_number)
    return _existing(stamp, from_number), to_number


def _versions_of_pair(stamp: ListStamp, old: int, new: int) -> tuple[RegisterList, Version, Version]:
    """The list and the two versions, entries and all: what a diff is computed from (a miss)."""
    register_list = _list_of(stamp)
    return register_list, _find_version(register_list, old), _find_version(register_list, new)


@_route("/diff")
def diff(slug: str | None) -> Response:
    stamp = _stamp(slug)
    old_number, new_number = _diff_numbers(stamp)
    # The page offers the list's versions to pick from, so it moves with the list; the
    # comparison itself is the two versions' alone, stored once for every worker.
    key = ("diff", *stamp.key, old_number, new_number)

    def render() -> bytes:
        register_list, old, new = _versions_of_pair(stamp, old_number, new_number)
        context = {"register_list": register_list, "old": old, "new": new}

        def body() -> str:
            return render_template(
                "lists/_diff.html", diff=diff_snapshots(old.snapshot, new.snapshot), **context
            )

        comparison = fragment(("diff", stamp.id, stamp.slug, *_itself(old), *_itself(new)), body)
        return render_template(
            "lists/diff.html", body=comparison, numbers=range(register_list.current_version, 0, -1), **context
        ).encode()

    # Stored for every worker, one row per pair: the next revision's page replaces it.
    return conditional(
        key,
        stamp.changed_at,
        render,
        "text/html",
        max_age=_VERSION_MAX_AGE,
        store=True,
        family=("diff", stamp.id, old_number, new_number),
    )


@_route("/diff.json")
@shared
@contract.described_by("diff")
def diff_json(slug: str | None) -> Response:
    stamp = _stamp(slug)
    old_number, new_number = _diff_numbers(stamp)
    old_time, new_time = _published(stamp, old_number, new_number)
    # The bytes are the two versions' alone. Without both numbers named, the same address shows
    # the next pair once a version is published: the list's own max-age, not a year.
    key = ("diff.json", stamp.id, old_number, old_time.isoformat(), new_number, new_time.isoformat())

    def render() -> bytes:
        _, old, new = _versions_of_pair(stamp, old_number, new_number)
        changes = diff_snapshots(old.snapshot, new.snapshot).as_json()
        return json_bytes({"from": old.number, "to": new.number, **changes})

    changed = max(old_time, new_time)
    return conditional(key, changed, render, "application/json", immutable=_both_named(), store=True)


# --- the contract ---------------------------------------------------------------------------
# The JSON Schemas of the documents above. They change only with the code: each is rendered once
# per process and its ETag names its bytes, so a deploy that changes a schema changes its ETag.


@cache
def _digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=12).hexdigest()


@bp.get("/schemas/<name>.json")
@shared
def schema(name: str) -> Response:
    if name not in contract.NAMES:
        abort(404, f"There is no schema called “{name[:64]}”; there are: {', '.join(contract.NAMES)}.")
    body = contract.served_bytes(name)
    key = ("schema", name, _digest(body))
    return conditional(
        key, contract.last_changed(name), lambda: body, contract.MEDIA_TYPE, max_age=_VERSION_MAX_AGE
    )


@bp.get("/openapi.json")
@shared
def openapi_document() -> Response:
    body = openapi.document_bytes()
    key = ("openapi", _digest(body))
    return conditional(
        key, contract.last_changed(), lambda: body, "application/json", max_age=_VERSION_MAX_AGE
    )


# --- feeds ------------------------------------------------------------------------------------
# One entry per published notice. Links are absolute on PUBLIC_BASE_URL, never on the request's
# host, so the cached bytes are the same for every reader.


def _entry_url(entry: feeds.FeedEntry) -> str:
    endpoint, values = entry.link()
    return external_list_url(endpoint, entry.register_list, **values)


def _list_feed(slug: str | None, fmt: feeds.FeedFormat) -> Response:
    stamp = _stamp(slug)

    def render() -> bytes:
        register_list = _list_of(stamp)
        company = current_app.config["COMPANY_NAME"]
        info = feeds.FeedInfo(
            title=f"{register_list.title}: notices · {company}",
            description=f"Every change {company} announces to its {register_list.title} list, and every withdrawal.",
            feed_id=external_url("lists.feed_atom", slug=register_list.slug),
            page_url=external_list_url("page", register_list),
            self_url=external_list_url(f"feed_{fmt}", register_list),
            author=company,
            updated_when_empty=register_list.changed_at,
        )
        entries = feeds.feed_entries(db.session, [register_list])
        return feeds.render_feed(fmt, info, entries, _entry_url)

    key = ("feed", fmt, *stamp.key)
    return conditional(
        key, stamp.changed_at, render, feeds.MIMETYPES[fmt], store=True, family=("feed", fmt, stamp.id)
    )


@_route("/feed.atom")
@shared
def feed_atom(slug: str | None) -> Response:
    return _list_feed(slug, "atom")


@_route("/feed.rss")
@shared
def feed_rss(slug: str | None) -> Response:
    return _list_feed(slug, "rss")


def _all_lists_feed(fmt: feeds.FeedFormat) -> Response:
    lists = services.all_lists(db.session)
    key = ("feed", fmt, "all", tuple((lst.id, lst.revision) for lst in lists))
    changed = max((lst.changed_at for lst in lists), default=datetime(2000, 1, 1, tzinfo=UTC))

    def render() -> bytes:
        company = current_app.config["COMPANY_NAME"]
        info = feeds.FeedInfo(
            title=f"All lists: notices · {company}",
            description=f"Every change {company} announces to any of its lists, and every withdrawal.",
            feed_id=external_url("lists.all_feed_atom"),
            page_url=external_url("lists.index"),
            self_url=external_url(f"lists.all_feed_{fmt}"),
            author=company,
            updated_when_empty=changed,
        )
        return feeds.render_feed(fmt, info, feeds.feed_entries(db.session, lists), _entry_url)

    return conditional(key, changed, render, feeds.MIMETYPES[fmt])


@bp.get("/feed.atom")
@shared
def all_feed_atom() -> Response:
    return _all_lists_feed("atom")


@bp.get("/feed.rss")
@shared
def all_feed_rss() -> Response:
    return _all_lists_feed("rss")


# --- calendars --------------------------------------------------------------------------------
# Two all-day events per announced change (see ``registry.lists.calendars``). What a calendar
# shows also moves with the day (past events leave its window), so a representation is keyed by
# the list's revision and the day, and is modified at the later of the two.


def _calendar(key: tuple[Any, ...], changed: datetime, stamp: ListStamp | None) -> Response:
    """The calendar of one list (its ``stamp``) or of all (None); the lists are loaded only to
    render, so a revalidation (304) or a cache hit never reads them."""
    today = calendar_day(utcnow())

    def render() -> bytes:
        if stamp is None:
            one, lists = None, services.all_lists(db.session)
            self_url = external_url("lists.all_calendar")
        else:
            one = _list_of(stamp)
            lists, self_url = [one], external_list_url("calendar", one)
        events = calendar_events(db.session, lists, today)
        name, description = calendar_name(one), calendar_description(one)
        return render_calendar(name, description, self_url, events)

    modified = max(changed, start_of(today))
    return conditional((*key, today.isoformat()), modified, render, CALENDAR_MIMETYPE)


@_route("/calendar.ics")
@shared
def calendar(slug: str | None) -> Response:
    stamp = _stamp(slug)
    return _calendar(("calendar", stamp.id, stamp.revision), stamp.changed_at, stamp)


@bp.get("/calendar.ics")
@shared
def all_calendar() -> Response:
    lists = services.all_lists(db.session)
    key = ("calendar", "all", tuple((lst.id, lst.revision) for lst in lists))
    changed = max((lst.changed_at for lst in lists), default=datetime(2000, 1, 1, tzinfo=UTC))
    return _calendar(key, changed, None)
