"""Rate limits cost nothing where none applies: the public pages are read far more than posted to.

Flask-Limiter resolves, for every request, which limits apply to it (decorated, blueprint,
default, application), even on a view that has none: about a sixth of a stored page's cost. The
limits of this app are all declared on views (sign-in, subscribe, objection, a subscriber's
links), so which endpoints have none is known once the routes are registered. A GET or HEAD to
one of those skips the limiter; everything else goes through it as before. Any limit that could
reach every endpoint (default, application, meta or fallback limits, from settings) turns the
skipping off altogether, so a setting never silently stops applying.
"""

from __future__ import annotations

from flask import Flask, current_app, request
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
    """Note the endpoints without limits (needs the routes: after the blueprints)."""
    if _limits_everywhere():
        app.extensions[_FREE] = frozenset()
        return
    app.extensions[_FREE] = frozenset(app.view_functions) - limited_endpoints(app)


@limiter.request_filter
def _no_limit_applies() -> bool:
    """The limiter's own hook, registered once for the one shared limiter: True skips its checks."""
    if request.method not in _READS:
        return False
    free: frozenset[str] = current_app.extensions.get(_FREE, frozenset())
    return request.endpoint in free and not limiter.limit_manager.has_hints(request.endpoint or "")
