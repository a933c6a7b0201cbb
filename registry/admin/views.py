"""Admin pages about lists and their changes: dashboard, list editor, drafts, announcements.

Views are thin: they read a form, call ``registry.lists.workflow`` (the rules) or
``registry.lists.services`` (the queries), commit on success and redirect (POST/redirect/GET).
Bad input is re-rendered with the messages next to the fields (422); a conflict with another
editor is a 409 page that shows their change next to this editor's input, which is kept; an
unknown id is a 404. The session is rolled back on every failure, so nothing half-done remains.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from registry.accounts.auth import actor, requires
from registry.accounts.models import Role
from registry.admin import bp, preview
from registry.admin.forms import AnnounceForm, ButtonForm, CorrectionForm, EntryForm, ReasonForm
from registry.admin.problems import form_problems
from registry.countries import all_countries
from registry.extensions import db
from registry.lists import services, workflow
from registry.lists.diff import field_changes
from registry.lists.fields import processor_fields, transfer_warning
from registry.lists.models import (
    Change,
    ChangeAction,
    ChangeStatus,
    Notice,
    NoticeKind,
    NoticeStatus,
    Processor,
    RegisterList,
)
from registry.lists.wording import change_headline, change_sides, notice_title
from registry.notifications.emails import Email, preview_notice_email
from registry.objections import services as objections
from registry.publishing import rules
from registry.subscriptions import services as subscriptions
from registry.timeutil import utcnow
from registry.validation import ValidationError

INVALID = 422
CONFLICT = 409
_MAX_ID = 2**31 - 1  # ids beyond a 32-bit integer do not exist (and PostgreSQL refuses them)
# Messages shown when two editors save at the same moment and the database refuses the second.
_RACE = "Someone else saved a change to this at the same moment. Compare with what it holds now."

Page = str | Response | tuple[str, int]


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "now": utcnow(),
        "countdown": preview.countdown,
        "change_sides": change_sides,
        "change_headline": change_headline,
        "field_changes": field_changes,
        "form_problems": form_problems,
    }


# --- lookups: anything unknown is a 404 ----------------------------------------------------


def _list_or_404(slug: str) -> RegisterList:
    register_list = services.get_list(db.session, slug) if len(slug) <= 64 else None
    if register_list is None:
        abort(404, f"There is no list called “{slug[:64]}”.")
    return register_list


def _entry_or_404(register_list: RegisterList, slug: str, *, active: bool = True) -> Processor:
    entry = services.entry_by_slug(db.session, register_list, slug) if len(slug) <= 80 else None
    if entry is None or (active and not entry.active):
        abort(404, f"{register_list.title} has no current entry “{slug[:80]}”.")
    return entry


def _change_or_404(change_id: int) -> Change:
    change = services.get_change(db.session, change_id) if change_id <= _MAX_ID else None
    if change is None:
        abort(404, f"There is no change {change_id}.")
    return change


def _notice_or_404(notice_id: int) -> Notice:
    notice = services.get_notice(db.session, notice_id) if notice_id <= _MAX_ID else None
    if notice is None:
        abort(404, f"There is no notice {notice_id}.")
    return notice


def _chosen_changes(ids: Iterable[int] | None) -> list[Change]:
    """The changes ticked in a form; the workflow checks they are drafts of the right list."""
    chosen = []
    for change_id in dict.fromkeys(ids or []):
        change = services.get_change(db.session, change_id) if 0 < change_id <= _MAX_ID else None
        if change is None:
            raise ValidationError(
                {"changes": f"There is no change {change_id}: choose changes from the list."}
            )
        chosen.append(change)
    return chosen


def _is_author(thing: Change | Notice) -> bool:
    return thing.author_id is not None and thing.author_id == current_user.id


# --- the dashboard and the list editor -----------------------------------------------------


@dataclass
class ListPanel:
    """What the dashboard shows of one list."""

    register_list: RegisterList
    drafts: list[Change]
    pending: list[Notice]
    announced: list[Notice]
    recent: list[Change] = field(default_factory=list)


@bp.get("/")
@requires(Role.EDITOR)
def dashboard() -> str:
    recent = services.recent_changes(db.session, limit=100)
    panels = [
        ListPanel(
            register_list,
            drafts=services.drafts_of(db.session, register_list),
            pending=services.pending_notices(db.session, register_list),
            announced=services.announced_notices(db.session, register_list),
            recent=[c for c in recent if c.list_id == register_list.id][:8],
        )
        for register_list in services.all_lists(db.session)
    ]
    # Objections (open and handled) per announced notice.
    announced_ids = [n.id for p in panels for n in p.announced]
    return render_template(
        "admin/dashboard.html",
        panels=panels,
        reason_form=ReasonForm(),
        objection_counts=objections.counts(db.session, announced_ids),
    )


@bp.get("/lists/<slug>")
@requires(Role.EDITOR)
def list_editor(slug: str) -> str:
    register_list = _list_or_404(slug)
    drafts = services.drafts_of(db.session, register_list)
    pending = services.pending_notices(db.session, register_list)
    upcoming = services.upcoming_changes(db.session, register_list)
    # Each entry's open change (draft, awaiting approval, or announced), shown in its row.
    open_changes = {
        c.processor_id: c
        for c in [*upcoming, *(c for n in pending for c in n.changes), *drafts]
        if c.processor_id is not None
    }
    return render_template(
        "admin/list.html",
        register_list=register_list,
        entries=services.current_entries(db.session, register_list),
        drafts=drafts,
        pending=pending,
        announced=services.announced_notices(db.session, register_list),
        open_changes=open_changes,
        button=ButtonForm(),
        reason_form=ReasonForm(),
    )


@bp.get("/lists/<slug>/entries/<entry>")
@requires(Role.EDITOR)
def entry_history(slug: str, entry: str) -> str:
    register_list = _list_or_404(slug)
    processor = _entry_or_404(register_list, entry, active=False)
    return render_template(
        "admin/entry_history.html",
        register_list=register_list,
        processor=processor,
        fields=processor_fields(processor),
        history=services.entry_history(db.session, processor),
    )


# --- drafting: add, update, replace, retire ------------------------------------------------


@bp.route("/lists/<slug>/new-entry", methods=["GET", "POST"])
@requires(Role.EDITOR)
def add_entry(slug: str) -> Page:
    return _draft_form(_list_or_404(slug), ChangeAction.ADD, None)


@bp.route("/lists/<slug>/entries/<entry>/edit", methods=["GET", "POST"])
@requires(Role.EDITOR)
def update_entry(slug: str, entry: str) -> Page:
    register_list = _list_or_404(slug)
    return _draft_form(register_list, ChangeAction.UPDATE, _entry_or_404(register_list, entry))


@bp.route("/lists/<slug>/entries/<entry>/replace", methods=["GET", "POST"])
@requires(Role.EDITOR)
def replace_entry(slug: str, entry: str) -> Page:
    register_list = _list_or_404(slug)
    return _draft_form(register_list, ChangeAction.REPLACE, _entry_or_404(register_list, entry))


@dataclass
class Conflict:
    """What the 409 page shows: the message, and what the other person's change holds now."""

    message: str
    current: dict[str, Any] | None = None  # the fields as they are now
    current_label: str = "Now"
    other: Change | None = None  # the other person's open change, if that is the conflict
    mine: dict[str, Any] | None = None  # what this editor submitted


def _conflict_from(error: workflow.ConflictError, mine: dict[str, Any] | None, label: str) -> Conflict:
    if isinstance(error.current, Change):
        other = error.current
        before, after = change_sides(other)
        return Conflict(str(error), after or before, f"Change {other.id} proposes", other, mine)
    current = error.current if isinstance(error.current, dict) and "name" in error.current else None
    return Conflict(str(error), current, label, None, mine)


def _draft_form(register_list: RegisterList, action: ChangeAction, target: Processor | None) -> Page:
    form = EntryForm()
    status, conflict = 200, None
    if request.method == "GET":
        if action is ChangeAction.UPDATE and target is not None:
            form.fill(processor_fields(target))
        if target is not None:
            form.row_version.data = str(target.row_version)
    elif not form.validate():
        status = INVALID
    else:
        mine = form.processor_data(with_id=action is not ChangeAction.UPDATE)
        try:
            change = workflow.draft_change(
                db.session,
                register_list,
                action,
                now=utcnow(),
                actor=actor(),
                processor=target.slug if target else None,
                fields=mine,
                base_row_version=form.expected_row_version() if target else None,
            )
            db.session.commit()
        except ValidationError as error:
            db.session.rollback()
            form.show_errors(error.errors, not_shown=("id",) if action is ChangeAction.UPDATE else ())
            status = INVALID
        except workflow.ConflictError as error:
            db.session.rollback()
            conflict = _conflict_from(error, mine, "Now on the list")
            status = CONFLICT
        except (IntegrityError, StaleDataError):
            db.session.rollback()
            conflict = Conflict(_RACE, processor_fields(target) if target else None, "Now on the list")
            status = CONFLICT
        else:
            flash(f"Drafted: {change_headline(change)} (change {change.id}).", "success")
            return _after_saving(change)
    # After a conflict the form is kept. Saving it again means "mine, over what is there now";
    # where the conflict is another editor's open draft of the same update, it saves into that.
    save_into = _editable_update(conflict.other) if conflict and action is ChangeAction.UPDATE else None
    if save_into is not None:
        form.row_version.data = str(save_into.row_version)
    elif target is not None and conflict is not None:
        form.row_version.data = str(target.row_version)
    return render_template(
        "admin/entry_form.html",
        register_list=register_list,
        action=action,
        target=target,
        target_fields=processor_fields(target) if target else None,
        form=form,
        conflict=conflict,
        save_into=save_into,
        countries=all_countries(),
    ), status


def _after_saving(change: Change) -> Response:
    """Back to the list, or, when the saved entry deserves a second look (a transfer without a
    mechanism), to the draft's form, where the warning stands next to its field."""
    warning = transfer_warning(change.proposed) if change.proposed else None
    if warning is None:
        return redirect(url_for("admin.list_editor", slug=change.register_list.slug))
    flash(f"Saved, but check it: {warning}", "warning")
    return redirect(url_for("admin.change", change_id=change.id))


def _editable_update(change: Change | None) -> Change | None:
    if change is not None and change.status is ChangeStatus.DRAFT and change.action is ChangeAction.UPDATE:
        return change
    return None


@bp.post("/lists/<slug>/entries/<entry>/retire")
@requires(Role.EDITOR)
def retire_entry(slug: str, entry: str) -> Page:
    register_list = _list_or_404(slug)
    target = _entry_or_404(register_list, entry)
    form = ButtonForm()
    error_messages: list[str] = []
    conflict = None
    try:
        if not form.validate():
            raise ValidationError({"form": "This form expired: reload the page."})
        change = workflow.draft_change(
            db.session,
            register_list,
            ChangeAction.RETIRE,
            now=utcnow(),
            actor=actor(),
            processor=target.slug,
            base_row_version=form.expected_row_version(),
        )
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        error_messages = list(error.errors.values())
    except workflow.ConflictError as error:
        db.session.rollback()
        conflict = _conflict_from(error, None, "Now on the list")
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        conflict = Conflict(_RACE, processor_fields(target), "Now on the list")
    else:
        flash(f"Drafted: {change_headline(change)} (change {change.id}).", "success")
        return redirect(url_for("admin.list_editor", slug=register_list.slug))
    return render_template(
        "admin/retire.html",
        register_list=register_list,
        target=target,
        conflict=conflict,
        errors=error_messages,
        button=ButtonForm(formdata=None, row_version=str(target.row_version)),
    ), CONFLICT if conflict else INVALID


# --- a change: edit or discard a draft -----------------------------------------------------


@bp.route("/changes/<int:change_id>", methods=["GET", "POST"])
@requires(Role.EDITOR)
def change(change_id: int) -> Page:
    change = _change_or_404(change_id)
    form = EntryForm()
    status, conflict = 200, None
    editable = change.status is ChangeStatus.DRAFT and change.action is not ChangeAction.RETIRE
    if request.method == "GET":
        form.fill(change.proposed)
        form.row_version.data = str(change.row_version)
    elif editable and not form.validate():
        status = INVALID
    else:  # (a change that is not an editable draft: the workflow says why)
        with_id = change.action is not ChangeAction.UPDATE
        mine = form.processor_data(with_id=with_id)
        try:
            workflow.edit_draft(
                db.session,
                change,
                mine,
                expected_row_version=form.expected_row_version(),
                actor=actor(),
                now=utcnow(),
            )
            db.session.commit()
        except ValidationError as error:
            db.session.rollback()
            hidden = EntryForm.FIELD_NAMES if not editable else () if with_id else ("id",)
            form.show_errors(error.errors, not_shown=hidden)
            status = INVALID
        except workflow.ConflictError as error:
            db.session.rollback()
            conflict = _conflict_from(error, mine, f"Change {change.id} holds now")
            status = CONFLICT
        except (IntegrityError, StaleDataError):
            db.session.rollback()
            conflict = Conflict(_RACE, change.proposed, f"Change {change.id} holds now", None, mine)
            status = CONFLICT
        else:
            flash(f"Saved the draft: {change_headline(change)} (change {change.id}).", "success")
            return _after_saving(change)
        if conflict is not None:  # saving again means: mine, over what the other editor saved
            form.row_version.data = str(change.row_version)
    return _change_page(change, form, status, conflict=conflict, editable=editable)


def _change_page(
    change: Change,
    form: EntryForm | None,
    status: int,
    *,
    conflict: Conflict | None = None,
    editable: bool | None = None,
    errors: list[str] | None = None,
) -> tuple[str, int]:
    if editable is None:
        editable = change.status is ChangeStatus.DRAFT and change.action is not ChangeAction.RETIRE
    if form is None:
        form = EntryForm(formdata=None)
        form.fill(change.proposed)
        form.row_version.data = str(change.row_version)
    warning = transfer_warning(change.proposed) if editable and change.proposed else None
    if warning:
        form.warnings["transfer_mechanisms"] = warning
    return render_template(
        "admin/change.html",
        change=change,
        register_list=change.register_list,
        form=form,
        editable=editable,
        conflict=conflict,
        errors=errors or [],
        button=ButtonForm(),
        countries=all_countries(),
    ), status


@bp.post("/changes/<int:change_id>/discard")
@requires(Role.EDITOR)
def discard(change_id: int) -> Page:
    change = _change_or_404(change_id)
    form = ButtonForm()
    try:
        if not form.validate():
            raise ValidationError({"form": "This form expired: reload the page."})
        headline = change_headline(change)
        workflow.discard_draft(db.session, change, actor=actor(), now=utcnow())
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        return _change_page(change, None, INVALID, errors=list(error.errors.values()))
    except workflow.ConflictError as error:
        db.session.rollback()
        return _change_page(change, None, CONFLICT, errors=[str(error)])
    except StaleDataError:
        db.session.rollback()
        return _change_page(change, None, CONFLICT, errors=[_RACE])
    flash(f"Discarded the draft: {headline} (change {change.id}).", "success")
    return redirect(url_for("admin.list_editor", slug=change.register_list.slug))


# --- announcing, and publishing at once ----------------------------------------------------


def _earliest_day(register_list: RegisterList, now: datetime) -> datetime:
    """The first midnight (UTC) that leaves the full notice period."""
    earliest = workflow.earliest_effective_date(register_list, now)
    midnight = earliest.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight >= earliest else midnight + timedelta(days=1)


@bp.route("/lists/<slug>/announce", methods=["GET", "POST"])
@requires(Role.EDITOR)
def announce(slug: str) -> Page:
    register_list = _list_or_404(slug)
    drafts = services.drafts_of(db.session, register_list)
    now = utcnow()
    form = AnnounceForm()
    status, notice_preview = 200, None
    if request.method == "GET":
        wanted = {int(v) for v in request.args.getlist("change") if v.isascii() and v.isdigit()}
        form.changes.data = [c.id for c in drafts if c.id in wanted or (not wanted and _is_author(c))]
        form.effective_date.data = f"{_earliest_day(register_list, now):%Y-%m-%d}"
    elif not form.validate():
        status = INVALID
    else:
        try:
            chosen = _chosen_changes(form.changes.data)
            effective_at = form.effective_at()
            notice = workflow.announce(
                db.session,
                register_list,
                chosen,
                reason=form.reason.data or "",
                effective_at=effective_at,
                now=now,
                actor=actor(),
                short_notice_reason=form.short_notice_reason.data,
            )
            if form.action.data != "announce":
                # A preview is the real announcement, rolled back: what it shows is exactly
                # what would be published, checked by the same rules.
                notice_preview = _preview_of(register_list, notice, chosen, now)
                db.session.rollback()
            else:
                db.session.commit()
        except ValidationError as error:
            db.session.rollback()
            form.show_errors(error.errors, aliases={"effective_at": "effective_date"})
            status = INVALID
        except workflow.ConflictError as error:
            db.session.rollback()
            form.show_errors({"changes": str(error)})
            status = CONFLICT
        except (IntegrityError, StaleDataError):
            db.session.rollback()
            form.show_errors({"changes": _RACE})
            status = CONFLICT
        else:
            if notice_preview is None:
                return _announced(register_list, notice)
        drafts = services.drafts_of(db.session, register_list)
    return render_template(
        "admin/announce.html",
        register_list=register_list,
        drafts=drafts,
        form=form,
        preview=notice_preview,
        earliest=workflow.earliest_effective_date(register_list, now),
        earliest_day=_earliest_day(register_list, now),
    ), status


@dataclass(frozen=True)
class NoticePreview:
    """How a notice would read, taken from a dry run of ``workflow.announce``."""

    subject: str
    effective_at: datetime
    objection_deadline: datetime
    reason: str
    short_notice_reason: str | None
    changes: list[Change]


def _preview_of(
    register_list: RegisterList, notice: Notice, changes: list[Change], now: datetime
) -> NoticePreview:
    return NoticePreview(
        subject=notice_title(notice),
        effective_at=notice.effective_at,
        objection_deadline=notice.objection_deadline
        or preview.objection_deadline(register_list.objection_closes_days_before, notice.effective_at, now),
        reason=notice.reason,
        short_notice_reason=notice.short_notice_reason,
        changes=changes,
    )


def _announced(register_list: RegisterList, notice: Notice) -> Response:
    subject = notice_title(notice)
    if notice.status is NoticeStatus.PENDING_APPROVAL:
        flash(
            f"Sent for approval: {subject}. Nothing is public until another editor approves it.",
            "success",
        )
    else:
        flash(f"Announced: {subject}.", "success")
    return redirect(url_for("admin.notice", notice_id=notice.id))


@bp.route("/lists/<slug>/correction", methods=["GET", "POST"])
@requires(Role.EDITOR)
def correction(slug: str) -> Page:
    register_list = _list_or_404(slug)
    form = CorrectionForm()
    status, conflict_message = 200, None
    correction_preview: CorrectionPreview | None = None
    if request.method == "GET":
        wanted = {int(v) for v in request.args.getlist("change") if v.isascii() and v.isdigit()}
        form.changes.data = sorted(wanted)
    elif not form.validate():
        status = INVALID
    else:
        try:
            chosen = _chosen_changes(form.changes.data)
            notice = workflow.correct(
                db.session,
                register_list,
                chosen,
                reason=form.reason.data or "",
                now=utcnow(),
                actor=actor(),
            )
            if form.action.data == "preview":
                # Like the announcement's preview: the real correction, rolled back, so that
                # the same rules check it and the email is the one subscribers would get.
                correction_preview = CorrectionPreview(
                    subject=notice_title(notice), email=preview_notice_email(notice), changes=chosen
                )
                db.session.rollback()
            else:
                db.session.commit()
        except ValidationError as error:
            db.session.rollback()
            form.show_errors(error.errors)
            status = INVALID
        except workflow.ConflictError as error:
            db.session.rollback()
            conflict_message, status = str(error), CONFLICT
        except (IntegrityError, StaleDataError):
            db.session.rollback()
            conflict_message, status = _RACE, CONFLICT
        else:
            if correction_preview is None:
                return _corrected(register_list, notice)
    return render_template(
        "admin/correction.html",
        register_list=register_list,
        drafts=services.drafts_of(db.session, register_list),
        form=form,
        conflict_message=conflict_message,
        preview=correction_preview,
    ), status


def _corrected(register_list: RegisterList, notice: Notice) -> Response:
    if notice.status is NoticeStatus.PENDING_APPROVAL:
        flash(
            f"Sent for approval: {notice_title(notice)}. Nothing is public until another person approves it.",
            "success",
        )
    else:
        flash(
            f"Published version {register_list.current_version} of {register_list.title} as a "
            "correction; subscribers are told.",
            "success",
        )
    return redirect(url_for("admin.notice", notice_id=notice.id))


@dataclass(frozen=True)
class CorrectionPreview:
    """What a correction would publish (each change's before and after) and the email it sends."""

    subject: str
    email: Email
    changes: list[Change]


# --- a notice: approve, reject, withdraw ---------------------------------------------------


@bp.get("/notices/<int:notice_id>")
@requires(Role.EDITOR)
def notice(notice_id: int) -> Page:
    return _notice_page(_notice_or_404(notice_id), 200)


def _notice_page(
    notice: Notice,
    status: int,
    *,
    reject_form: ReasonForm | None = None,
    withdraw_form: ReasonForm | None = None,
    errors: list[str] | None = None,
) -> tuple[str, int]:
    withdrawals = services.notices_of(db.session, notice.register_list, NoticeKind.WITHDRAWAL)
    withdrawal = next((w for w in withdrawals if w.withdraws_id == notice.id), None)
    return render_template(
        "admin/notice.html",
        notice=notice,
        register_list=notice.register_list,
        subject=notice_title(notice) if notice.changes or notice.withdraws else None,
        withdrawal=withdrawal,
        is_author=_is_author(notice),
        can_withdraw=notice.kind is NoticeKind.ANNOUNCEMENT
        and any(c.status is ChangeStatus.ANNOUNCED for c in notice.changes),
        button=ButtonForm(),
        reject_form=reject_form or ReasonForm(formdata=None),
        withdraw_form=withdraw_form or ReasonForm(formdata=None),
        errors=errors or [],
    ), status


def seen_digest(notice: Notice) -> str:
    """A short digest of everything an approver reads: the approval counts only for the notice
    as it was shown, not for one edited or decided since."""
    register_list = notice.register_list
    content = {
        "id": notice.id,
        "status": str(notice.status),
        "reason": notice.reason,
        "effective_at": notice.effective_at.isoformat(),
        "short_notice_reason": notice.short_notice_reason,
        "changes": [[c.id, c.row_version, c.proposed, c.base] for c in notice.changes],
        # What the page and its email preview show of the list: its name, the deadline's rule.
        "list": [
            register_list.title,
            register_list.notice_period_days,
            register_list.objection_closes_days_before,
        ],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _approval_page(notice: Notice, status: int, errors: list[str] | None = None) -> tuple[str, int]:
    """The whole notice and the email subscribers will get, before anyone approves it."""
    refusal = None
    try:
        workflow.check_approver(notice, actor())
    except ValidationError as error:
        refusal = " ".join(error.errors.values())
    email = None
    if notice.status is NoticeStatus.PENDING_APPROVAL and notice.kind is not NoticeKind.CORRECTION:
        now = utcnow()
        with db.session.no_autoflush:  # shown as it would be published now, never written
            notice.announced_at = now
            notice.objection_deadline = preview.objection_deadline(
                notice.register_list.objection_closes_days_before, notice.effective_at, now
            )
            email = preview_notice_email(notice)
        db.session.rollback()
    elif notice.status is NoticeStatus.PENDING_APPROVAL:
        email = None  # a correction's email is written when it is published; its changes are below
    return render_template(
        "admin/approve.html",
        notice=notice,
        register_list=notice.register_list,
        subject=notice_title(notice),
        email=email,
        refusal=refusal,
        seen=seen_digest(notice),
        button=ButtonForm(formdata=None),
        errors=errors or [],
    ), status


@bp.route("/notices/<int:notice_id>/approve", methods=["GET", "POST"])
@requires(Role.EDITOR)
def approve(notice_id: int) -> Page:
    """Approve a notice: only from its confirmation page, which shows the whole notice and its
    email, and only for the notice as it was shown (``seen``)."""
    notice = _notice_or_404(notice_id)
    if request.method == "GET":
        return _approval_page(notice, 200)
    if not ButtonForm().validate():
        return _approval_page(notice, INVALID, ["This form expired. Please try again."])
    if request.form.get("seen") != seen_digest(notice):
        return _approval_page(
            notice,
            CONFLICT if request.form.get("seen") else 200,
            ["The notice changed since this page was shown: read it again before approving it."]
            if request.form.get("seen")
            else [],
        )
    try:
        workflow.approve(db.session, notice, actor=actor(), now=utcnow())
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        return _approval_page(notice, INVALID, list(error.errors.values()))
    except workflow.ConflictError as error:
        db.session.rollback()
        return _approval_page(notice, CONFLICT, [str(error)])
    except StaleDataError:
        db.session.rollback()
        return _approval_page(notice, CONFLICT, [_RACE])
    flash(f"Approved and published: {notice_title(notice)}.", "success")
    return redirect(url_for("admin.notice", notice_id=notice.id))


def _decide_with_reason(
    notice_id: int, decide: Callable[..., object], form_name: str
) -> tuple[Notice, Page | None]:
    """Reject or withdraw a notice with a public reason; the page to show if that failed."""
    notice = _notice_or_404(notice_id)
    form = ReasonForm()
    if not form.validate():
        return notice, _notice_page(notice, INVALID, **{form_name: form})
    try:
        decide(db.session, notice, reason=form.reason.data or "", actor=actor(), now=utcnow())
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        form.show_errors(error.errors)
        return notice, _notice_page(notice, INVALID, **{form_name: form})
    except workflow.ConflictError as error:
        db.session.rollback()
        return notice, _notice_page(notice, CONFLICT, errors=[str(error)], **{form_name: form})
    except StaleDataError:
        db.session.rollback()
        return notice, _notice_page(notice, CONFLICT, errors=[_RACE], **{form_name: form})
    return notice, None


@bp.post("/notices/<int:notice_id>/reject")
@requires(Role.EDITOR)
def reject(notice_id: int) -> Page:
    notice, failed = _decide_with_reason(notice_id, workflow.reject, "reject_form")
    if failed is not None:
        return failed
    flash(f"Rejected notice {notice.id}: its changes are drafts again.", "success")
    return redirect(url_for("admin.list_editor", slug=notice.register_list.slug))


@bp.route("/notices/<int:notice_id>/withdraw", methods=["GET", "POST"])
@requires(Role.EDITOR)
def withdraw(notice_id: int) -> Page:
    """Withdraw an announcement: only once its confirmation page said what is withdrawn and
    who will be told (subscribers, and everyone who objected)."""
    notice = _notice_or_404(notice_id)
    form = ReasonForm() if request.method == "POST" else ReasonForm(formdata=None)
    if request.method == "GET" or request.form.get("confirmed") != "yes":
        return _withdrawal_page(notice, form, 200)
    if not form.validate():
        return _withdrawal_page(notice, form, INVALID)
    try:
        workflow.withdraw(db.session, notice, reason=form.reason.data or "", actor=actor(), now=utcnow())
        db.session.commit()
    except ValidationError as error:
        db.session.rollback()
        form.show_errors(error.errors)
        return _withdrawal_page(notice, form, INVALID)
    except workflow.ConflictError as error:
        db.session.rollback()
        return _notice_page(notice, CONFLICT, errors=[str(error)])
    except StaleDataError:
        db.session.rollback()
        return _notice_page(notice, CONFLICT, errors=[_RACE])
    flash(
        f"Withdrew notice {notice.id}; the withdrawal is published in the change log and told to "
        "subscribers and objectors.",
        "success",
    )
    return redirect(url_for("admin.notice", notice_id=notice.id))


def _withdrawable(notice: Notice) -> str | None:
    """Why ``notice`` cannot be withdrawn now, or None if it can (the core's rule, asked early)."""
    announced = [c for c in notice.changes if c.status is ChangeStatus.ANNOUNCED]
    try:
        rules.check_withdrawable(
            notice.kind is NoticeKind.ANNOUNCEMENT
            and notice.status is NoticeStatus.PUBLISHED
            and bool(announced),
            notice.effective_at,
            utcnow(),
            what="notice",
        )
    except workflow.ConflictError as error:
        return str(error)
    return None


def _withdrawal_page(notice: Notice, form: ReasonForm, status: int) -> tuple[str, int]:
    return render_template(
        "admin/withdraw.html",
        notice=notice,
        register_list=notice.register_list,
        subject=notice_title(notice),
        form=form,
        withdrawable=_withdrawable(notice),
        subscribers=subscriptions.confirmed_subscribers(db.session, list_id=notice.list_id),
        objectors=len(
            objections.find_objections(db.session, objections.ObjectionFilter(notice_id=notice.id))
        ),
    ), status
