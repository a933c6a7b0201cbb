"""Public pages of subscribing: sign up, confirm, manage, unsubscribe.

Links from emails are opened by mail scanners too: every GET only shows, every change is a POST.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from registry.extensions import csrf, db, limiter
from registry.lists.models import RegisterList
from registry.lists.services import all_lists
from registry.security import same_origin_request
from registry.subscriptions import services, tokens
from registry.subscriptions.forms import ConfirmForm, PreferencesForm, SubscribeForm
from registry.subscriptions.models import Frequency, Subscriber
from registry.subscriptions.tokens import TokenError
from registry.timeutil import utcnow
from registry.validation import ValidationError

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
    services.Outcome.UNSUBSCRIBED: "You are unsubscribed from every list.",
}

Page = Response | str | tuple[str, int]


def _address_key() -> str:
    """The per-address limit counts an address however it is typed."""
    raw = request.form.get("email") or ""
    try:
        address = services.normalise_email(raw)
    except ValidationError:
        address = raw.strip().lower()[:320]
    return "subscribe:" + address


def _show_errors(form: SubscribeForm | PreferencesForm, error: ValidationError) -> None:
    for name, message in error.errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [message]


def _subscribe_page(
    form: SubscribeForm, lists: list[RegisterList], *, general: list[str] | None = None
) -> str:
    return render_template(
        "subscriptions/subscribe.html", form=form, lists=lists, general_errors=general or []
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
    if request.method == "GET":
        slugs = {register_list.slug for register_list in lists}
        wanted = request.args.get("list") or ""
        chosen = wanted if wanted in slugs else current_app.config["DEFAULT_LIST"]
        form = SubscribeForm(formdata=None, lists=[chosen] if chosen in slugs else [], frequency="each")
        return _subscribe_page(form, lists)

    form = SubscribeForm()
    if not same_origin_request():
        try:
            csrf.protect()
        except CSRFError:
            return _subscribe_page(form, lists, general=[FORM_EXPIRED]), 400
    try:
        services.subscribe(
            db.session, form.email.data or "", form.lists.data or [], form.frequency.data, now=utcnow()
        )
    except ValidationError as error:
        db.session.rollback()
        _show_errors(form, error)
        return _subscribe_page(form, lists), 400
    db.session.commit()
    # One answer for every address, whatever its state: nothing here tells who is subscribed.
    return render_template("subscriptions/check_inbox.html")


def _link_problem(message: str) -> tuple[str, int]:
    return render_template("subscriptions/link_problem.html", message=message), 400


def _claimed(token: str, purpose: str) -> tuple[tokens.LinkClaim, Subscriber]:
    """The claim of a valid, current link and its subscriber; ``TokenError`` otherwise."""
    claim = tokens.read(token, purpose)
    return claim, services.subscriber_for(db.session, claim)


@bp.route("/subscribe/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Page:
    try:
        claim, _subscriber = _claimed(token, tokens.CONFIRM)
    except TokenError as error:
        return _link_problem(str(error))
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            subscriber = services.confirm(db.session, claim, utcnow())
        except TokenError as error:
            db.session.rollback()
            return _link_problem(str(error))
        db.session.commit()
        return render_template(
            "subscriptions/confirmed.html",
            lists=[s.register_list for s in subscriber.subscriptions],
            manage_url=url_for("subscriptions.manage", token=tokens.manage_token(subscriber)),
        )
    known = {register_list.slug: register_list for register_list in all_lists(db.session)}
    lists = [known[slug] for slug in claim.lists if slug in known]
    status = 400 if request.method == "POST" else 200
    return render_template(
        "subscriptions/confirm.html", form=form, lists=lists, frequency=claim.frequency or "each"
    ), status


def _main_frequency(subscriber: Subscriber) -> str:
    frequencies = [s.frequency for s in subscriber.subscriptions]
    return max(Frequency, key=frequencies.count).value if frequencies else Frequency.EACH.value


@bp.route("/subscription/<token>", methods=["GET", "POST"])
def manage(token: str) -> Page:
    try:
        _claim, subscriber = _claimed(token, tokens.MANAGE)
    except TokenError as error:
        return _link_problem(str(error))
    if request.method == "GET":
        form = PreferencesForm(
            formdata=None,
            lists=[s.register_list.slug for s in subscriber.subscriptions],
            frequency=_main_frequency(subscriber),
        )
    else:
        form = PreferencesForm()
    status = 200
    if form.validate_on_submit():
        try:
            outcome = services.update(
                db.session, subscriber, form.lists.data or [], form.frequency.data, now=utcnow()
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
    return render_template(
        "subscriptions/manage.html",
        form=form,
        subscriber=subscriber,
        lists=all_lists(db.session),
        token=token,
    ), status


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058 one-click: the mail client posts without cookies; the link is the secret
def unsubscribe(token: str) -> Page:
    try:
        _claim, subscriber = _claimed(token, tokens.MANAGE)
    except TokenError as error:
        return _link_problem(str(error))
    if request.method == "GET":
        return render_template("subscriptions/unsubscribe.html", subscriber=subscriber, token=token)
    services.unsubscribe(db.session, subscriber, now=utcnow())
    db.session.commit()
    return render_template("subscriptions/unsubscribed.html", token=token)
