"""Processor Registry: publishes a company's sub-processor lists and announces their changes."""

from __future__ import annotations

import gc
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

from registry import config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Route(Rule):
    """A URL rule whose builders (what ``url_for`` runs) are compiled when first used.

    Werkzeug compiles two per rule as it is added, each from a syntax tree: 0.1 s of every start
    for our 150 rules, when a process builds links to a handful of them (a job, to none or two).
    """

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        def build(rule: Rule, **values: Any) -> tuple[str, str]:
            compiled = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            # Werkzeug's own, from now on (two threads may both compile it: the same function).
            setattr(rule, "_build_unknown" if append_unknown else "_build", compiled)
            return compiled(**values)

        return build


class RegistryApp(Flask):
    """Flask, asking once per hook and view whether it is a coroutine, not on every request.

    ``ensure_sync`` runs for each of the dozen hooks and the view of every request, and each
    time inspects the function's code flags; the functions are the same from start to end.
    """

    url_rule_class = Route

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.ismethod(func):
            # A bound method is often of an object made per request (a class-based view): kept,
            # each would stay alive, and be asked about once, for the life of the worker.
            return super().ensure_sync(func)
        checked: dict[Callable[..., Any], Callable[..., Any]] = self.__dict__.setdefault("_checked_sync", {})
        try:
            found = checked.get(func)
        except TypeError:  # an unhashable callable: checked every time, as Flask does
            return super().ensure_sync(func)
        if found is None:
            if len(checked) >= _MOST_CHECKED:  # functions made per request (closures): bounded
                checked.clear()
            found = checked[func] = super().ensure_sync(func)
        return found


# Far more than the hooks, views and handlers of the app (about two hundred).
_MOST_CHECKED = 1024


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the app is built.

    Building it makes a hundred thousand objects that live as long as the app, and almost no
    garbage: the collector would walk them again and again as they are made (50 ms of a start)
    to find nothing. What was made then goes to the oldest generation unexamined, as if it had
    survived the skipped collections (freeze, then unfreeze), not to the youngest, which the
    next allocation would walk whole; it is walked at the next full collection, or never in a
    process that freezes it (``run-jobs``). Paused only if it was running, resumed only here;
    and nothing that someone else froze is unfrozen.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def create_app(test_config: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, error pages, jobs, CLI.

    ``instance_path`` moves the folder of local settings and data (tests use a temporary one).
    """
    with collector_paused():
        app = RegistryApp(
            __name__,
            instance_path=instance_path,
            instance_relative_config=True,
            template_folder=os.path.join(ROOT, "templates"),
            static_folder=os.path.join(ROOT, "static"),
        )
        config.load(app, test_config)
        app.json.ensure_ascii = False  # type: ignore[attr-defined]  # names are shown as written
        os.makedirs(app.instance_path, exist_ok=True)
        register_logging(app)
        register_proxy(app)
        register_extensions(app)
        register_events(app)
        register_blueprints(app)
        register_rate_limits(app)
        register_log_redaction(app)
        register_templating(app)
        register_handlers(app)
        register_commands(app)
        register_scheduler(app)
        register_replay(app)
    return app


def register_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic announces each of its plugins at INFO on every start; only its warnings matter here.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if app.config["QUIET_LOGS"]:
        # Each migration run and each job added or run is an INFO line; their warnings still show.
        for name in ("alembic", "apscheduler"):
            logging.getLogger(name).setLevel(logging.WARNING)


def register_proxy(app: Flask) -> None:
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Client addresses (rate limits, the audit trail) come from the proxies we were told of.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    from registry import models  # noqa: F401  # every table, before the mapper is configured
    from registry.accounts import auth
    from registry.caching import RenderCache
    from registry.database import configure_engine
    from registry.extensions import csrf, db, limiter, mail
    from registry.lists.stamps import ListStamps, VersionTimes
    from registry.rendered import register as register_rendered
    from registry.sessions import CookieSessions

    db.init_app(app)
    configure_engine(app)
    app.session_interface = CookieSessions()
    csrf.init_app(app)
    limiter.init_app(app)
    mail.init_app(app)
    auth.register(app)
    app.extensions["render_cache"] = RenderCache(app.config["RENDER_CACHE_SIZE"])
    register_rendered(app, ROOT)
    app.extensions["list_stamps"] = ListStamps(app.config["LIST_STAMP_TTL"])
    app.extensions["version_times"] = VersionTimes()


def register_events(_app: Flask) -> None:
    """The upper layers subscribe to the domains' events: messages owed, data forgotten."""
    from registry.notifications import handlers as notification_handlers
    from registry.privacy import handlers as privacy_handlers
    from registry.webhooks import handlers as webhook_handlers

    notification_handlers.connect()
    webhook_handlers.connect()
    privacy_handlers.connect()


def register_blueprints(app: Flask) -> None:
    from registry.accounts.views import bp as accounts_bp
    from registry.admin import bp as admin_bp
    from registry.admin import deliveries, documents, manage, objections, privacy, views, webhooks  # noqa: F401  # admin routes
    from registry.admin.audit import bp as audit_bp
    from registry.api.views import bp as api_bp
    from registry.documents.views import bp as documents_bp
    from registry.lists.views import bp as lists_bp
    from registry.objections.views import bp as objections_bp
    from registry.subscriptions.views import bp as subscriptions_bp

    blueprints = (
        lists_bp,
        documents_bp,
        subscriptions_bp,
        objections_bp,
        accounts_bp,
        admin_bp,
        audit_bp,
        api_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)


def register_rate_limits(app: Flask) -> None:
    """Pages that no limit applies to skip the limiter (needs the routes: after blueprints)."""
    from registry import rate_limits

    rate_limits.register(app)


def register_log_redaction(app: Flask) -> None:
    """Request logs never hold the tokens of emailed links (needs the routes: after blueprints)."""
    from registry import access_logs

    access_logs.register(app)


def register_templating(app: Flask) -> None:
    from registry import templating

    templating.register(app)


def register_handlers(app: Flask) -> None:
    from registry import cors, errors, security

    errors.register(app)
    security.register(app)
    cors.register(app)


def register_replay(app: Flask) -> None:
    """Public answers sent again without Flask (last: it wraps everything else)."""
    from registry import replay

    replay.register(app)


def register_commands(app: Flask) -> None:
    from registry import cli
    from registry.accounts import commands as account_commands
    from registry.lists import commands as list_commands

    cli.register(app)
    list_commands.register(app)
    account_commands.register(app)


def register_scheduler(app: Flask) -> None:
    if app.config["SCHEDULER_IN_PROCESS"]:
        from registry import scheduler

        scheduler.start_in_process(app)
