"""Admin pages of policy documents: the documents, a new document (admins), its settings
(admins), drafting a revision with a rendered preview, announcing it, approving or rejecting it,
withdrawing it, publishing it at once, and its history.

Views are thin: they read a form, call ``registry.documents.workflow`` (the rules) or
``registry.documents.services``, commit on success and redirect (POST/redirect/GET). Bad input
is shown again with its messages (422); another editor's change first is a 409; an unknown slug
or id is a 404. The guard of the admin blueprint checks the role and the CSRF token first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import Length

from registry.accounts.auth import actor, requires
from registry.accounts.models import Role
from registry.admin import bp
from registry.admin.forms import (
    AnnounceForm,
    ButtonForm,
    ErrorsMixin,
    ReasonForm,
    RowVersionMixin,
    WorkflowForm,
)
from registry.admin.manage_forms import DaysField
from registry.documents import services, workflow
from registry.documents.diff import word_diff
from registry.documents.models import Document, DocumentRevision, RevisionStatus
from registry.documents.rendering import in_page, render_markdown
from registry.extensions import db
from registry.subscriptions import services as subscriptions
from registry.timeutil import utcnow
from registry.validation import ValidationError

INVALID = 422
CONFLICT = 409
_MAX_ID = 2**31 - 1
_RACE = "Someone else changed this document at the same moment. Reload the page to see what it holds now."

Page = str | Response | tuple[str, int]


# --- forms ------------------------------------------------------------------------------------


class DocumentSettingsForm(ErrorsMixin, WorkflowForm):
    title = StringField("Title", validators=[Length(max=1000)])
    notice_period_days = DaysField("Notice period (days)")
    requires_approval = BooleanField("Four eyes: an announcement needs a second editor's approval")

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name).data for name in services.SETTINGS}


class NewDocumentForm(DocumentSettingsForm):
    slug = StringField("Slug", validators=[Length(max=200)])


class DraftForm(ErrorsMixin, RowVersionMixin, WorkflowForm):
    body = TextAreaField("Text (Markdown)", validators=[Length(max=workflow.MAX_BODY + 10_000)])
    summary = TextAreaField("What changes (public)", validators=[Length(max=5000)])
    row_version = HiddenField()
    # Which button was pressed: "preview" shows the rendered text without saving.
    action = HiddenField()


class RevisionAnnounceForm(AnnounceForm):
    """The effective date and short-notice justification of a list's announcement, nothing else."""

    changes = None
    reason = None


# --- lookups ----------------------------------------------------------------------------------


def _document_or_404(slug: str) -> Document:
    document = services.get_document(db.session, slug)
    if document is None:
        abort(404, f"There is no document called “{slug[:64]}”.")
    return document


def _revision_or_404(revision_id: int) -> DocumentRevision:
    revision = services.get_revision(db.session, revision_id) if revision_id <= _MAX_ID else None
    if revision is None:
        abort(404, f"There is no document revision {revision_id}.")
    return revision


def _earliest_day(document: Document, now: datetime) -> datetime:
    earliest = workflow.earliest_effective_date(document, now)
    midnight = earliest.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight >= earliest else midnight + timedelta(days=1)


def _preview(body: str | None) -> Markup | None:
    """The editor's text as readers would see it (sanitised like every published revision)."""
    if not (body or "").strip():
        return None
    return Markup(render_markdown(body or ""))  # noqa: S704  # sanitised by nh3


# --- documents --------------------------------------------------------------------------------


@bp.get("/documents")
@requires(Role.EDITOR)
def documents() -> str:
    found = services.all_documents(db.session)
    return render_template(
        "admin/documents.html",
        documents=[
            (d, services.open_revision(db.session, d), services.upcoming_revision(db.session, d))
            for d in found
        ],
        form=NewDocumentForm(formdata=None, notice_period_days=30),
    )


@bp.post("/documents/new")
@requires(Role.ADMIN)
def create_document() -> Page:
    form = NewDocumentForm()
    if form.validate():
        try:
            document = services.create_document(
                db.session, slug=(form.slug.data or "").strip(), actor=actor(), now=utcnow(), **form.values()
            )
        except ValidationError as error:
            db.session.rollback()
            form.show_errors(error.errors)
        except IntegrityError:
            db.session.rollback()
            form.show_errors(
                {"slug": "A document with this slug was created at the same moment: choose another."}
            )
        else:
            db.session.commit()
            flash(f"The document “{document.title}” is created. Draft its first revision.", "success")
            return redirect(url_for("admin.document", slug=document.slug))
    found = services.all_documents(db.session)
    return render_template(
        "admin/documents.html",
        documents=[
            (d, services.open_revision(db.session, d), services.upcoming_revision(db.session, d))
            for d in found
        ],
        form=form,
    ), INVALID


def _document_page(
    document: Document, status: int = 200, settings_form: DocumentSettingsForm | None = None
) -> tuple[str, int]:
    return render_template(
        "admin/documents_document.html",
        document=document,
        revisions=services.all_revisions(db.session, document),
        open_revision=services.open_revision(db.session, document),
        upcoming=services.upcoming_revision(db.session, document),
        settings_form=settings_form or DocumentSettingsForm(formdata=None, obj=document),
    ), status


@bp.get("/documents/<slug>")
@requires(Role.EDITOR)
def document(slug: str) -> Page:
    return _document_page(_document_or_404(slug))


@bp.post("/documents/<slug>/settings")
@requires(Role.ADMIN)
def document_settings(slug: str) -> Page:
    document = _document_or_404(slug)
    form = DocumentSettingsForm()
    if not form.validate():
        return _document_page(document, INVALID, form)
    try:
        services.update_settings(db.session, document, form.values(), actor=actor(), now=utcnow())
    except ValidationError as error:
        db.session.rollback()
        form.show_errors(error.errors)
        return _document_page(document, INVALID, form)
    db.session.commit()
    flash(f"The settings of “{document.title}” are saved.", "success")
    return redirect(url_for("admin.document", slug=document.slug))


# --- drafting ---------------------------------------------------------------------------------


@bp.route("/documents/<slug>/draft", methods=["GET", "POST"])
@requires(Role.EDITOR)
def new_revision(slug: str) -> Page:
    """Start the next revision from the text in force (or a blank page for the first)."""
    document = _document_or_404(slug)
    existing = services.open_revision(db.session, document)
    if request.method == "GET" and existing is not None:
        return redirect(url_for("admin.document_revision", revision_id=existing.id))
    form = DraftForm()
    status, preview = 200, None
    if request.method == "GET":
        current = services.current_revision(db.session, document)
        form.body.data = current.body if current else f"# {document.title}\n\n"
    elif not form.validate():
        status = INVALID
    elif form.action.data == "preview":
        preview = _preview(form.body.data)
    else:
        try:
            revision = workflow.draft_revision(
                db.session,
                document,
                body=form.body.data or "",
                summary=form.summary.data or "",
                now=utcnow(),
                actor=actor(),
            )
            db.session.commit()
        except ValidationError as error:
            db.session.rollback()
            form.show_errors(error.errors)
            status = INVALID
        except (workflow.ConflictError, IntegrityError) as error:
            db.session.rollback()
            message = str(error) if isinstance(error, workflow.ConflictError) else _RACE
            form.show_errors({"revision": message})
            status = CONFLICT
        else:
            flash(f"Saved a draft of {document.title}.", "success")
            return redirect(url_for("admin.document_revision", revision_id=revision.id))
    return render_template(
        "admin/documents_draft.html", document=document, form=form, preview=preview, revision=None
    ), status


def _revision_page(
    revision: DocumentRevision,
    status: int = 200,
    *,
    draft_form: DraftForm | None = None,
    announce_form: RevisionAnnounceForm | None = None,
    reject_form: ReasonForm | None = None,
    withdraw_form: ReasonForm | None = None,
    preview: Markup | None = None,
    errors: list[str] | None = None,
    confirm_withdrawal: bool = False,
) -> tuple[str, int]:
    document = revision.document
    now = utcnow()
    if draft_form is None:
        draft_form = DraftForm(formdata=None, body=revision.body, summary=revision.summary)
        draft_form.row_version.data = str(revision.row_version)
    if announce_form is None:
        announce_form = RevisionAnnounceForm(formdata=None)
        announce_form.effective_date.data = f"{_earliest_day(document, now):%Y-%m-%d}"
    base = services.revision_by_number(db.session, document, revision.based_on) if revision.based_on else None
    is_author = current_user.id in workflow.contributors(revision)
    return render_template(
        "admin/documents_revision.html",
        document=document,
        revision=revision,
        base=base,
        changes=word_diff(in_page(base.rendered), in_page(revision.rendered)) if base else None,
        draft_form=draft_form,
        announce_form=announce_form,
        reject_form=reject_form or ReasonForm(formdata=None),
        withdraw_form=withdraw_form or ReasonForm(formdata=None),
        button=ButtonForm(),
        preview=preview,
        errors=errors or [],
        is_author=is_author,
        earliest=workflow.earliest_effective_date(document, now),
        seen=seen_digest(revision),
        confirm_withdrawal=confirm_withdrawal,
        correction_max_words=workflow.CORRECTION_MAX_WORDS,
        subscribers=subscriptions.confirmed_document_subscribers(db.session, document_id=document.id),
    ), status


def seen_digest(revision: DocumentRevision) -> str:
    """A short digest of what an approver reads: the approval counts only for the text shown."""
    content = [revision.id, revision.row_version, str(revision.status), revision.body, revision.summary]
    return hashlib.sha256(json.dumps(content, default=str).encode()).hexdigest()[:32]


@bp.route("/document-revisions/<int:revision_id>", methods=["GET", "POST"])
@requires(Role.EDITOR)
def document_revision(revision_id: int) -> Page:
    """A revision: edit it while it is a draft (with a preview); its state and actions otherwise."""
    revision = _revision_or_404(revision_id)
    if request.method == "GET":
        return _revision_page(revision)
    form = DraftForm()
    if not form.validate():
        return _revision_page(revision, INVALID, draft_form=form)
    if form.action.data == "preview":
        return _revision_page(revision, draft_form=form, preview=_preview(form.body.data))
    try:
        workflow.edit_draft(
            db.session,
            revision,
            body=form.body.data or "",
            summary=form.summary.data or "",
            expected_row_version=form.expected_row_version(),
            now=utcnow(),
            actor=actor(),
        )
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        form.show_errors(error.errors)
        return _revision_page(revision, INVALID, draft_form=form)
    except (workflow.ConflictError, StaleDataError) as error:
        db.session.rollback()
        message = str(error) if isinstance(error, workflow.ConflictError) else _RACE
        form.row_version.data = str(revision.row_version)  # saving again means: mine, over theirs
        return _revision_page(revision, CONFLICT, draft_form=form, errors=[message])
    flash("Saved the draft.", "success")
    return redirect(url_for("admin.document_revision", revision_id=revision.id))


def _act(
    revision_id: int, act: Callable[[DocumentRevision], object], form_ok: bool, **page: Any
) -> tuple[DocumentRevision, Page | None]:
    """Run one workflow step and commit; the page to show when it failed."""
    revision = _revision_or_404(revision_id)
    if not form_ok:
        return revision, _revision_page(revision, INVALID, **page)
    try:
        act(revision)
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        for form in page.values():
            if hasattr(form, "show_errors"):
                form.show_errors(error.errors, aliases={"effective_at": "effective_date"})
                break
        else:
            page["errors"] = list(error.errors.values())
        return revision, _revision_page(revision, INVALID, **page)
    except workflow.ConflictError as error:
        db.session.rollback()
        return revision, _revision_page(revision, CONFLICT, errors=[str(error)], **page)
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        return revision, _revision_page(revision, CONFLICT, errors=[_RACE], **page)
    return revision, None


@bp.post("/document-revisions/<int:revision_id>/announce")
@requires(Role.EDITOR)
def announce_revision(revision_id: int) -> Page:
    form = RevisionAnnounceForm()

    def act(revision: DocumentRevision) -> None:
        workflow.announce(
            db.session,
            revision,
            effective_at=form.effective_at(),
            short_notice_reason=form.short_notice_reason.data,
            now=utcnow(),
            actor=actor(),
        )

    revision, failed = _act(revision_id, act, form.validate(), announce_form=form)
    if failed is not None:
        return failed
    if revision.status is RevisionStatus.PENDING_APPROVAL:
        flash("Sent for approval. Nothing is public until another editor approves it.", "success")
    else:
        flash(
            f"Announced revision {revision.number}: {services.announced_revision_title(revision)}.", "success"
        )
    return redirect(url_for("admin.document_revision", revision_id=revision.id))


@bp.post("/document-revisions/<int:revision_id>/approve")
@requires(Role.EDITOR)
def approve_revision(revision_id: int) -> Page:
    """Approve from the revision's page, which shows its whole text and what changes, and only
    for the text as it was shown (``seen``)."""
    seen = request.form.get("seen")
    current = _revision_or_404(revision_id)
    if seen != seen_digest(current):
        message = "The revision changed since its page was shown: read it again before approving it."
        return _revision_page(current, CONFLICT if seen else INVALID, errors=[message])

    def act(revision: DocumentRevision) -> None:
        workflow.approve(db.session, revision, actor=actor(), now=utcnow())

    revision, failed = _act(revision_id, act, ButtonForm().validate())
    if failed is not None:
        return failed
    flash(f"Approved and published: {services.announced_revision_title(revision)}.", "success")
    return redirect(url_for("admin.document_revision", revision_id=revision.id))


@bp.post("/document-revisions/<int:revision_id>/reject")
@requires(Role.EDITOR)
def reject_revision(revision_id: int) -> Page:
    form = ReasonForm()

    def act(revision: DocumentRevision) -> None:
        workflow.reject(db.session, revision, reason=form.reason.data or "", actor=actor(), now=utcnow())

    revision, failed = _act(revision_id, act, form.validate(), reject_form=form)
    if failed is not None:
        return failed
    flash("Sent back: the revision is a draft again.", "success")
    return redirect(url_for("admin.document_revision", revision_id=revision.id))


@bp.post("/document-revisions/<int:revision_id>/withdraw")
@requires(Role.EDITOR)
def withdraw_revision(revision_id: int) -> Page:
    """Withdraw an announced revision, once its page confirmed who will be told."""
    form = ReasonForm()
    if request.form.get("confirmed") != "yes":
        return _revision_page(_revision_or_404(revision_id), withdraw_form=form, confirm_withdrawal=True)

    def act(revision: DocumentRevision) -> None:
        workflow.withdraw(db.session, revision, reason=form.reason.data or "", actor=actor(), now=utcnow())

    revision, failed = _act(revision_id, act, form.validate(), withdraw_form=form)
    if failed is not None:
        return failed
    flash(f"Withdrew revision {revision.number}; its page says so publicly.", "success")
    return redirect(url_for("admin.document_revision", revision_id=revision.id))


@bp.post("/document-revisions/<int:revision_id>/publish")
@requires(Role.EDITOR)
def publish_revision(revision_id: int) -> Page:
    def act(revision: DocumentRevision) -> None:
        workflow.correct(db.session, revision, actor=actor(), now=utcnow())

    revision, failed = _act(revision_id, act, ButtonForm().validate())
    if failed is not None:
        return failed
    if revision.status is RevisionStatus.PENDING_APPROVAL:
        flash(
            "Sent for approval as a correction. Nothing is public until another person approves it.",
            "success",
        )
    else:
        flash(f"Published revision {revision.number} of {revision.document.title} without notice.", "success")
    return redirect(url_for("admin.document_revision", revision_id=revision.id))


@bp.post("/document-revisions/<int:revision_id>/discard")
@requires(Role.EDITOR)
def discard_revision(revision_id: int) -> Page:
    def act(revision: DocumentRevision) -> None:
        workflow.discard_draft(db.session, revision, actor=actor(), now=utcnow())

    revision, failed = _act(revision_id, act, ButtonForm().validate())
    if failed is not None:
        return failed
    flash("Discarded the draft.", "success")
    return redirect(url_for("admin.document", slug=revision.document.slug))
