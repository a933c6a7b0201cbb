"""The PDF annex of a version: what a customer attaches to its DPA as "the list on the day we
signed", made by WeasyPrint from our own template.

A version never changes, so neither does its annex: it is rendered once per installation and
stored like the version's JSON (see ``registry.rendered``). It therefore says nothing that moves
later (whether the version is still current). Its footer names the SHA-256 of the bytes served at
``/versions/<n>.json``, which the version page shows too: a reader holding the PDF can check it
against the published data.

WeasyPrint fetches nothing: the stylesheet is inside the template, and the URL fetcher refuses
every address, so an entry's website or a stray ``src`` never makes the server go out on the
network. Fonts are the system's (Debian's DejaVu), found by fontconfig.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from functools import cache
from importlib import metadata
from typing import Any

from flask import current_app, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry import rendered
from registry.caching import stored_key
from registry.database import transaction_intent
from registry.lists.fields import KIND_PLURALS
from registry.lists.formats import version_json_bytes
from registry.lists.links import external_list_url
from registry.lists.models import RegisterList, Version

log = logging.getLogger(__name__)

MIMETYPE = "application/pdf"
# fontTools logs each table of each font it subsets at INFO, and WeasyPrint each step and page
# it lays out: dozens of lines per annex, hundreds for a long list.
for _noisy in ("fontTools", "weasyprint.progress"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


class AnnexUnavailable(RuntimeError):
    """WeasyPrint, or the Pango libraries it loads, are not installed on this server."""


def json_sha256(register_list: RegisterList, version: Version) -> str:
    """The SHA-256 (hex) of exactly what ``/versions/<n>.json`` serves for ``version``: printed
    in the annex's footer and shown on the version page, so the two can be compared."""
    return hashlib.sha256(version_json_bytes(register_list, version)).hexdigest()


@cache
def engine() -> str:
    """Which WeasyPrint renders (without loading it): part of a stored annex's key, since a
    new WeasyPrint lays the same page out differently."""
    try:
        return f"weasyprint {metadata.version('weasyprint')}"
    except metadata.PackageNotFoundError:
        return "weasyprint missing"


def annex_key(list_id: int, title: str, number: int, published_at: datetime) -> tuple[Any, ...]:
    """What names a version's annex for ever: its list, the list's title (in the annex and in the
    JSON it hashes), its number and publication time, and the WeasyPrint that lays it out. The
    view and the job both use it, so the job stores exactly what the first request would."""
    return ("version.pdf", list_id, title, number, published_at.isoformat(), engine())


def too_long_to_render_now(version: Version) -> bool:
    """Whether laying ``version`` out would keep a reader waiting too long (and could outlast
    the worker's timeout): then only the scheduler makes it (``prepare_missing``)."""
    return len(version.snapshot) > current_app.config["ANNEX_INLINE_MAX_ENTRIES"]


def prepare_missing(session: Session, limit: int) -> list[tuple[str, int]]:
    """Render and store the annexes too long to lay out on request and not stored yet, newest
    versions first, at most ``limit``; returns the (list, version) made.

    Newest first: a freshly published version is the one readers ask for; older ones follow,
    a few per run, so that any version asked for is made in the end. The session's transaction
    is ended before each layout (a long one must not hold SQLite's write lock), and each annex
    is stored on its own connection: two schedulers at once may both lay one out, but only one
    row is kept (``ON CONFLICT DO NOTHING``), and the bytes are the same.
    """
    # Only what a request would refuse to lay out: a short version is made when first asked for,
    # so the job never spends its runs (nor the tests' and the demo's) on those.
    longest_inline = current_app.config["ANNEX_INLINE_MAX_ENTRIES"]
    rows = session.execute(
        select(Version.list_id, RegisterList.slug, RegisterList.title, Version.number, Version.published_at)
        .join(RegisterList, RegisterList.id == Version.list_id)
        .where(func.json_array_length(Version.snapshot) > longest_inline)
        .order_by(Version.published_at.desc(), Version.id.desc())
    ).all()
    keys = {row: stored_key(annex_key(row[0], row[2], row[3], row[4])) for row in rows}
    have = rendered.stored_keys(session, list(keys.values()))
    made: list[tuple[str, int]] = []
    for row in rows:
        if len(made) >= limit:
            break
        if keys[row] in have:
            continue
        list_id, slug, _, number, _ = row
        # Read only while laying out: a job's transactions take SQLite's write lock otherwise.
        with transaction_intent(writes=False):
            session.rollback()
            # Another scheduler may have made it while this one laid out the previous one.
            if rendered.stored(session, keys[row]) is not None:
                continue
            register_list = session.get(RegisterList, list_id)
            version = session.scalar(
                select(Version).where(Version.list_id == list_id, Version.number == number)
            )
            if register_list is None or version is None:
                continue
            try:
                body = version_pdf(register_list, version)
            except AnnexUnavailable:
                # Nothing to prepare on this server; the view says why to whoever asks.
                log.warning("PDF annexes cannot be made here: WeasyPrint is not installed.")
                break
            finally:
                session.rollback()
        rendered.store(keys[row], MIMETYPE, body)
        made.append((slug, number))
    return made


def annex_context(register_list: RegisterList, version: Version) -> dict[str, Any]:
    """What the annex shows: the facts of its title block and footer, and the entries by kind."""
    groups = [
        (label, [e for e in version.snapshot if e.get("kind") == kind])
        for kind, label in KIND_PLURALS.items()
    ]
    return {
        "company": current_app.config["COMPANY_NAME"],
        "register_list": register_list,
        "version": version,
        "permanent_url": external_list_url("version", register_list, number=version.number),
        "json_url": external_list_url("version_json", register_list, number=version.number),
        "sha256": json_sha256(register_list, version),
        "groups": [(label, entries) for label, entries in groups if entries],
        "count": len(version.snapshot),
    }


def annex_html(register_list: RegisterList, version: Version) -> str:
    return render_template("lists/version_pdf.html", **annex_context(register_list, version))


def version_pdf(register_list: RegisterList, version: Version) -> bytes:
    """The annex of ``version`` as PDF bytes; ``AnnexUnavailable`` when WeasyPrint cannot run here."""
    return render_pdf(annex_html(register_list, version))


def render_pdf(html: str) -> bytes:
    """``html`` (our own template's output) laid out by WeasyPrint, fetching nothing."""
    try:
        # Loaded on first use: a server without Pango still serves everything else.
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except (ImportError, OSError) as error:
        raise AnnexUnavailable(
            "The PDF cannot be made on this server (WeasyPrint or its Pango libraries are missing); "
            "the same version is available as JSON and CSV."
        ) from error

    class RefuseEverything(URLFetcher):
        """Every URL refused: WeasyPrint logs a warning and leaves the image or sheet out."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError(f"the annex loads nothing from outside ({url[:100]})")

    pdf = HTML(string=html, url_fetcher=RefuseEverything()).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf
