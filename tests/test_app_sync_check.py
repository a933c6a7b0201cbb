"""``RegistryApp`` asks once per function whether it is a coroutine, and never keeps more than it
should: a bound method or a closure made per request must not pile up for the life of a worker."""

from __future__ import annotations

from flask import Flask, copy_current_request_context
from flask.views import MethodView


class Hello(MethodView):
    def get(self) -> str:
        return "hello"


def _checked(app: Flask) -> dict[object, object]:
    return app.__dict__.get("_checked_sync", {})


def test_a_class_based_view_adds_nothing_per_request(app: Flask) -> None:
    """A ``MethodView`` is a new instance per request, and each hands over its own bound method."""
    app.add_url_rule("/hello-for-test", view_func=Hello.as_view("hello_for_test"))
    client = app.test_client()
    assert client.get("/hello-for-test").get_data(as_text=True) == "hello"
    known = len(_checked(app))
    for _ in range(50):
        assert client.get("/hello-for-test").status_code == 200
    assert len(_checked(app)) == known


def test_functions_made_per_request_do_not_pile_up(app: Flask) -> None:
    @app.get("/closure-for-test")
    def closure_for_test() -> str:
        @copy_current_request_context
        def inner() -> str:  # a new function on every request
            return "inner"

        return inner()

    client = app.test_client()
    for _ in range(1200):
        assert client.get("/closure-for-test").status_code == 200
    assert len(_checked(app)) <= 1024
