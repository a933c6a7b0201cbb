"""Rate limits cost nothing where none applies: the public pages are read far more than posted to.

Flask-Limiter resolves, for every request, which limits apply to it (decorated, blueprint,
default, application), even on a view that has none: about a sixth of a stored page's cost. The
limits of this app are all declared on views (sign-in, subscribe, objection, a subscriber's
links, a signed-in person's own password and code), so which endpoints have none is known once the routes are registered. A GET or HEAD to
one of those skips the limiter's hooks; everything else goes through it as before. Any limit that could
reach every endpoint (default, application, meta or fallback limits, from settings) turns the
skipping off altogether, so a setting never silently stops applying.
"""

from __future__ import annotations

from functools import partial

from flask import Flask, Response, current_app, request
from flask_limiter.util import get_qualified_name

from registry.extensions import limiter

_FREE = "rate_limit_free_endpoints"
_READS = frozenset({"GET", "HEAD"})


def limited_endpoints(app: Flask) -> frozenset[str]:
    """The endpoints that some limit of the limiter's registry names, by view or by blueprint."""
    manager = limiter.limit_manager
    named = set(manager._decorated_limits) | limiter._marked_for_limiting
    limited_blueprints = set(manager._blueprint_limits)
    found = set()
    for endpoint, view in app.view_functions.items():
        blueprints = set(endpoint.split(".")[:-1])
        if (
            get_qualified_name(view) in named
            or blueprints & limited_blueprints
            or manager.has_hints(endpoint)
        ):
            found.add(endpoint)
    return frozenset(found)


def _limits_everywhere() -> bool:
    """Whether a limit applies to endpoints that declare none (settings can add such limits)."""
    manager = limiter.limit_manager
    return bool(
        manager._application_limits
        or manager._default_limits
        or limiter._meta_limits
        or limiter._in_memory_fallback_enabled
    )


def register(app: Flask) -> None:
    """Note the endpoints without limits, and put the limiter's hooks behind the check of them.

    Flask-Limiter's ``request_filter`` would only spare the resolution of the limits: its hooks
    would still evaluate an empty list, look up exemptions and build a context on every request.
    So its three hooks for this app are wrapped instead (found by identity: a newer
    Flask-Limiter that registers others fails here, at start, not silently).
    """
    free = frozenset() if _limits_everywhere() else frozenset(app.view_functions) - limited_endpoints(app)
    app.extensions[_FREE] = free
    if not free:
        return
    check = limiter._check_request_limit
    release = limiter._Limiter__release_context  # type: ignore[attr-defined]
    before = app.before_request_funcs.setdefault(None, [])
    after = app.after_request_funcs.setdefault(None, [])
    teardown = app.teardown_request_funcs.setdefault(None, [])
    inject = next(hook for hook in after if isinstance(hook, partial) and limiter in hook.args)

    def check_unless_free() -> None:
        if not no_limit_applies():
            check()

    def inject_unless_free(response: Response) -> Response:
        return response if no_limit_applies() else inject(response)

    def release_unless_free(error: BaseException | None = None) -> None:
        if not no_limit_applies():
            release(error)

    before[before.index(check)] = check_unless_free
    after[after.index(inject)] = inject_unless_free
    teardown[teardown.index(release)] = release_unless_free


def no_limit_applies() -> bool:
    """Whether this request is a read of an endpoint that no limit names."""
    if request.method not in _READS:
        return False
    free: frozenset[str] = current_app.extensions.get(_FREE, frozenset())
    return request.endpoint in free and not limiter.limit_manager.has_hints(request.endpoint or "")
