"""Public pages of subscribing: sign up, confirm, manage, unsubscribe; and a subscriber's own
data: a fresh manage link by email, what we hold (and its download), a corrected address, erasure.

Links from emails are opened by mail scanners too: every GET only shows, every change is a POST.
Each link opens what its power allows (``registry.subscriptions.tokens``): an unsubscribe link
only the unsubscribe page; a manage link the manage page; the data, its download, a corrected
address and erasure only a fresh link, emailed on request. Pages that hold a token send
``Referrer-Policy: no-referrer``, so no other site learns it from a link followed there.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from registry import access_logs
from registry.documents.models import Document
from registry.documents.services import public_documents
from registry.downloads import json_download
from registry.extensions import csrf, db, limiter
from registry.limits import MAX_EMAIL
from registry.lists.models import RegisterList
from registry.lists.services import all_lists
from registry.security import fingerprint, same_origin_request
from registry.subscriptions import events, services, tokens
from registry.subscriptions.forms import AddressForm, ConfirmForm, PreferencesForm, SubscribeForm
from registry.subscriptions.models import Frequency, Subscriber
from registry.subscriptions.tokens import KeyClaim, TokenError
from registry.timeutil import utcnow
from registry.validation import ValidationError, normalise_email

bp = Blueprint("subscriptions", __name__)

TOO_MANY = (
    "Too many subscription requests for this address or from your network. Please wait an hour and try again."
)
FORM_EXPIRED = "This form expired or did not come from this site. Please try again."
OUTCOME_MESSAGES = {
    services.Outcome.UPDATED: "Your choices are saved.",
    services.Outcome.CONFIRMATION_SENT: (
        "We sent you an email with a link to confirm. Your choices take effect once you follow it."
    ),
    services.Outcome.UNSUBSCRIBED: "You are unsubscribed from every list and document.",
}

Page = Response | str | tuple[str, int]


def _form_address_hash() -> str:
    """The posted address as a keyed hash: the per-address limits count an address however it is
    typed, and the limiter's storage (which an erasure does not reach) holds no address."""
    raw = request.form.get("email") or ""
    try:
        address = normalise_email(raw)
    except ValidationError:
        address = raw.strip().lower()[:MAX_EMAIL]
    return fingerprint(address)


def _address_key() -> str:
    return "subscribe:" + _form_address_hash()


def _link_address_key() -> str:
    return "manage-link:" + _form_address_hash()


def _new_address_key() -> str:
    return "new-address:" + _form_address_hash()


def _show_errors(form: SubscribeForm | PreferencesForm | AddressForm, error: ValidationError) -> None:
    for name, message in error.errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [message]


def _subscribe_page(
    form: SubscribeForm,
    lists: list[RegisterList],
    documents: list[Document],
    *,
    general: list[str] | None = None,
) -> str:
    return render_template(
        "subscriptions/subscribe.html",
        form=form,
        lists=lists,
        documents=documents,
        general_errors=general or [],
    )


@bp.route("/subscribe", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SUBSCRIBE_LIMIT_PER_IP"], methods=["POST"], error_message=TOO_MANY)
@limiter.limit(
    lambda: current_app.config["SUBSCRIBE_LIMIT_PER_ADDRESS"],
    key_func=_address_key,
    methods=["POST"],
    error_message=TOO_MANY,
)
@csrf.exempt  # checked below: a token, or the browser's proof that the post is from this site
def subscribe() -> Page:
    lists = all_lists(db.session)
    documents = public_documents(db.session)
    if request.method == "GET":
        slugs = {register_list.slug for register_list in lists}
        wanted = request.args.get("list") or ""
        wanted_document = request.args.get("document") or ""
        if wanted_document in {document.slug for document in documents} and not wanted:
            # From a document's page: that document, and no list.
            form = SubscribeForm(formdata=None, lists=[], documents=[wanted_document], frequency="each")
            return _subscribe_page(form, lists, documents)
        chosen = wanted if wanted in slugs else current_app.config["DEFAULT_LIST"]
        form = SubscribeForm(formdata=None, lists=[chosen] if chosen in slugs else [], frequency="each")
        return _subscribe_page(form, lists, documents)

    form = SubscribeForm()
    if not same_origin_request():
        try:
            csrf.protect()
        except CSRFError:
            return _subscribe_page(form, lists, documents, general=[FORM_EXPIRED]), 400
    try:
        services.subscribe(
            db.session,
            form.email.data or "",
            form.lists.data or [],
            form.frequency.data,
            now=utcnow(),
            document_slugs=form.documents.data or [],
        )
    except ValidationError as error:
        db.session.rollback()
        _show_errors(form, error)
        return _subscribe_page(form, lists, documents), 400
    db.session.commit()
    # One answer for every address, whatever its state: nothing here tells who is subscribed.
    return render_template("subscriptions/check_inbox.html")


@bp.after_app_request
def no_referrer_for_tokens(response: Response) -> Response:
    """A page whose address holds a token tells no other site where it came from.

    Registered on the app, not the blueprint: a 404 or 405 at a token's address never reaches
    a view of this blueprint, and its address holds the token all the same.
    """
    if (request.view_args and "token" in request.view_args) or access_logs.FILTER.holds_token(request.path):
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _link_problem(message: str, *, fresh: bool = False) -> tuple[str, int]:
    """A link that does not work; ``fresh`` when a fresh link by email is the way on."""
    return render_template("subscriptions/link_problem.html", message=message, fresh=fresh), 400


def _opened(token: str, *purposes: str) -> tuple[KeyClaim, Subscriber]:
    """The claim of a valid, current link of one of ``purposes`` and its subscriber;
    ``TokenError`` otherwise."""
    claim = tokens.read_key(token, *purposes)
    return claim, services.subscriber_by_key(db.session, claim)


def _manage_problem(error: TokenError) -> tuple[str, int]:
    """A manage or fresh link that does not work: the way on is a fresh link by email."""
    return _link_problem(str(error), fresh=True)


def _fresh_form(subscriber: Subscriber) -> AddressForm:
    """The form that asks for a fresh link to the subscriber's own address (``request_link``)."""
    return AddressForm(formdata=None, email=subscriber.email)


def _fresh_needed(subscriber: Subscriber) -> tuple[str, int]:
    """A manage link asked for what only a fresh link may do: offer to email one."""
    return render_template(
        "subscriptions/fresh_needed.html",
        subscriber=subscriber,
        fresh_form=_fresh_form(subscriber),
        valid_minutes=current_app.config["FRESH_LINK_MAX_AGE_MINUTES"],
    ), 403


def _opened_fresh(token: str) -> tuple[Subscriber | None, Page | None]:
    """The subscriber of a fresh link; or, for any other link, the page to answer instead."""
    try:
        claim, subscriber = _opened(token, tokens.FRESH, tokens.MANAGE)
    except TokenError as error:
        return None, _manage_problem(error)
    if not claim.fresh:
        return None, _fresh_needed(subscriber)
    return subscriber, None


def _row_ids(name: str) -> list[int]:
    """The pending-request ids posted under ``name`` (anything else is ignored)."""
    values = request.form.getlist(name)[: 2 * services.MAX_LISTS]
    return [int(value) for value in values if value.isascii() and value.isdigit() and len(value) < 12]


def _already_confirmed() -> str:
    """The page of a link whose request is confirmed: it says so, and no more (no manage link, no
    lists): a confirmation email still lying about for two days is worth nothing to whoever
    finds it."""
    return render_template("subscriptions/already_confirmed.html")


@bp.route("/subscribe/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Page:
    """A confirmation link: a page of everything the address asked for and has not confirmed
    yet (from every sign-up), whose button confirms what is ticked of it."""
    max_age = timedelta(seconds=current_app.config["CONFIRMATION_MAX_AGE_SECONDS"])
    try:
        claim = tokens.read(token, tokens.CONFIRM)
        found = services.confirmation_for(db.session, claim, now=utcnow(), max_age=max_age)
    except TokenError as error:
        return _link_problem(str(error))
    if found.already_confirmed:
        return _already_confirmed()
    form = ConfirmForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            done = services.confirm(
                db.session,
                claim,
                utcnow(),
                max_age=max_age,
                shown=_row_ids("shown"),
                chosen=_row_ids("pending"),
            )
        except TokenError as error:
            db.session.rollback()
            return _link_problem(str(error))
        except ValidationError as error:
            db.session.rollback()
            errors = list(error.errors.values())
            try:
                found = services.confirmation_for(db.session, claim, now=utcnow(), max_age=max_age)
            except TokenError as again:
                return _link_problem(str(again))
            if found.already_confirmed:
                return _already_confirmed()
        else:
            db.session.commit()
            if done.already_confirmed:
                return _already_confirmed()
            return render_template(
                "subscriptions/confirmed.html",
                lists=[s.register_list for s in done.subscriber.list_subscriptions],
                documents=[s.document for s in done.subscriber.document_subscriptions],
                manage_url=url_for("subscriptions.manage", token=tokens.manage_token(done.subscriber)),
            )
    status = 400 if request.method == "POST" else 200
    return render_template(
        "subscriptions/confirm.html", form=form, pending=found.pending, errors=errors
    ), status


def _main_frequency(subscriber: Subscriber) -> str:
    frequencies = [s.frequency for s in subscriber.subscriptions]
    return max(Frequency, key=frequencies.count).value if frequencies else Frequency.EACH.value


@bp.route("/subscription/<token>", methods=["GET", "POST"])
def manage(token: str) -> Page:
    """The manage page, from a manage link (lists, frequency, unsubscribing) or a fresh one (the
    data too, its download, a corrected address, erasure)."""
    try:
        claim, subscriber = _opened(token, tokens.FRESH, tokens.MANAGE)
    except TokenError as error:
        return _manage_problem(error)
    form = _preferences_form(subscriber) if request.method == "GET" else PreferencesForm()
    status = 200
    if form.validate_on_submit():
        try:
            outcome = services.update(
                db.session,
                subscriber,
                form.lists.data or [],
                form.frequency.data,
                now=utcnow(),
                document_slugs=form.documents.data or [],
            )
        except ValidationError as error:
            db.session.rollback()
            _show_errors(form, error)
            status = 400
        else:
            db.session.commit()
            flash(OUTCOME_MESSAGES[outcome], "success")
            return redirect(url_for("subscriptions.manage", token=token), 303)
    elif request.method == "POST":
        status = 400
    return _manage_page(subscriber, token, form, AddressForm(formdata=None), status, fresh=claim.fresh)


def _held_about(subscriber: Subscriber, now: datetime | None = None) -> dict[str, Any]:
    """Everything held about the subscriber's address, from the privacy area (which sees the
    outbox and the objections too)."""
    answers = events.emit(events.data_requested, subscriber, session=db.session, now=now or utcnow())
    data: dict[str, Any] = answers[0]
    return data


def _manage_page(
    subscriber: Subscriber,
    token: str,
    form: PreferencesForm,
    address_form: AddressForm,
    status: int,
    *,
    fresh: bool,
) -> tuple[str, int]:
    """The manage page; what is held about the address only for a fresh link."""
    return render_template(
        "subscriptions/manage.html",
        form=form,
        address_form=address_form,
        fresh_form=_fresh_form(subscriber),
        subscriber=subscriber,
        lists=all_lists(db.session),
        documents=public_documents(db.session),
        fresh=fresh,
        data=_held_about(subscriber) if fresh else None,
        token=token,
        unsubscribe_token=tokens.unsubscribe_token(subscriber),
        valid_minutes=current_app.config["FRESH_LINK_MAX_AGE_MINUTES"],
    ), status


def _preferences_form(subscriber: Subscriber) -> PreferencesForm:
    return PreferencesForm(
        formdata=None,
        lists=[s.slug for s in subscriber.list_subscriptions],
        documents=[s.slug for s in subscriber.document_subscriptions],
        frequency=_main_frequency(subscriber),
    )


# --- a subscriber's own data ------------------------------------------------------------------


@bp.route("/subscription", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SUBSCRIBE_LIMIT_PER_IP"], methods=["POST"], error_message=TOO_MANY)
@limiter.limit(
    lambda: current_app.config["SUBSCRIBE_LIMIT_PER_ADDRESS"],
    key_func=_link_address_key,
    methods=["POST"],
    error_message=TOO_MANY,
)
def request_link() -> Page:
    """Ask for a fresh link to the manage page, by email (also the manage page's "Email me a
    fresh link", which posts the subscriber's own address here).

    One answer, and the same work, for every address (subscribed, unsubscribed, unknown): the
    page tells nobody whether an address is known, not even by its time; only its inbox learns
    it, from the email.
    """
    form = AddressForm() if request.method == "POST" else AddressForm(formdata=None)
    if request.method == "POST":
        try:
            services.request_manage_link(db.session, form.email.data or "", now=utcnow())
        except ValidationError as error:
            db.session.rollback()
            _show_errors(form, error)
            return render_template("subscriptions/request_link.html", form=form), 400
        db.session.commit()
        return render_template("subscriptions/link_sent.html")
    return render_template("subscriptions/request_link.html", form=form)


@bp.get("/subscription/<token>/data.json")
def download_data(token: str) -> Page:
    """Everything we hold about the address, as a JSON file (GDPR Art. 15 and 20); fresh links only."""
    subscriber, refused = _opened_fresh(token)
    if subscriber is None:
        assert refused is not None
        return refused
    now = utcnow()
    return json_download(_held_about(subscriber, now), f"subscription-data-{now:%Y-%m-%d}.json")


@bp.post("/subscription/<token>/address")
@limiter.limit(lambda: current_app.config["SUBSCRIBE_LIMIT_PER_IP"], error_message=TOO_MANY)
@limiter.limit(
    lambda: current_app.config["SUBSCRIBE_LIMIT_PER_ADDRESS"],
    key_func=_new_address_key,
    error_message=TOO_MANY,
)
def change_address(token: str) -> Page:
    """Ask to move the subscription to a new address: a link to confirm goes to that address.
    Fresh links only: a manage link travels with forwarded mail."""
    subscriber, refused = _opened_fresh(token)
    if subscriber is None:
        assert refused is not None
        return refused
    form = AddressForm()
    try:
        services.request_address_change(db.session, subscriber, form.email.data or "", now=utcnow())
    except ValidationError as error:
        db.session.rollback()
        _show_errors(form, error)
        return _manage_page(subscriber, token, _preferences_form(subscriber), form, 400, fresh=True)
    db.session.commit()
    flash(
        "We sent an email to the new address with a link to confirm it. "
        "Your address changes once you follow that link.",
        "success",
    )
    return redirect(url_for("subscriptions.manage", token=token, _anchor="address"), 303)


@bp.route("/subscription/address/<token>", methods=["GET", "POST"])
def confirm_address(token: str) -> Page:
    """The link from the new address's inbox: a button makes it the subscription's address."""
    try:
        claim, subscriber = _opened(token, tokens.ADDRESS)
    except TokenError as error:
        message = str(error)
        if message == services.LINK_REPLACED:
            message = services.LINK_USED
        return _link_problem(message)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            subscriber = services.change_address(db.session, claim, utcnow())
        except (TokenError, ValidationError) as error:
            db.session.rollback()
            return _link_problem(str(error) if isinstance(error, TokenError) else services.LINK_USED)
        db.session.commit()
        return render_template(
            "subscriptions/address_changed.html",
            subscriber=subscriber,
            manage_url=url_for("subscriptions.manage", token=tokens.manage_token(subscriber)),
        )
    status = 400 if request.method == "POST" else 200
    return render_template("subscriptions/confirm_address.html", form=form, email=claim.email), status


@bp.route("/subscription/<token>/delete", methods=["GET", "POST"])
def delete(token: str) -> Page:
    """Erase the address everywhere, after a confirmation step (GDPR Art. 17); fresh links only."""
    subscriber, refused = _opened_fresh(token)
    if subscriber is None:
        assert refused is not None
        return refused
    form = ConfirmForm()
    if form.validate_on_submit():
        events.emit(
            events.erasure_requested,
            subscriber,
            session=db.session,
            now=utcnow(),
            reason="the subscriber's own request, from the subscription page",
        )
        db.session.commit()
        return render_template("subscriptions/deleted.html")
    status = 400 if request.method == "POST" else 200
    return render_template("subscriptions/delete.html", form=form, subscriber=subscriber, token=token), status


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058 one-click: the mail client posts without cookies; the link is the secret
def unsubscribe(token: str) -> Page:
    """One thing only: unsubscribe. The page shows neither the address nor a way to the manage
    page, since this link is in every email's headers. Old emails' links work here too."""
    try:
        _claim, subscriber = _opened(token, tokens.UNSUBSCRIBE)
    except TokenError as error:
        return _link_problem(str(error))
    if request.method == "GET":
        return render_template("subscriptions/unsubscribe.html", subscriber=subscriber, token=token)
    services.unsubscribe(db.session, subscriber, now=utcnow())
    db.session.commit()
    return render_template("subscriptions/unsubscribed.html")
