"""Whatever a reader types into the address bar, the answer is a page or a clear 4xx, never a 500."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Registry, entry

PATHS = [
    "/processors",
    "/processors.json",
    "/processors.csv",
    "/processors/versions",
    "/processors/diff",
    "/processors/diff.json",
    "/lists/sub-processors",
]
PARAMS = ["q", "kind", "country", "from", "to", "at", "page"]
values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["DE", "us", "subprocessor", "1", "2", "0", "-1", "9" * 30, "2027-01-10", "%00"]),
)


def test_random_query_strings_never_fail(client: FlaskClient, registry: Registry) -> None:
    registry.create_list()
    registry.publish("sub-processors", entry("Microsoft Azure"), entry("Stripe", locations=["US"]))
    registry.publish("sub-processors", entry("Datadog"))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(PATHS), st.dictionaries(st.sampled_from(PARAMS), values, max_size=4))
    def check(path: str, params: dict[str, str]) -> None:
        response = client.get(f"{path}?{urlencode(params)}")
        assert response.status_code < 500, (path, params, response.status_code)

    check()


def test_random_path_segments_never_fail(client: FlaskClient, registry: Registry) -> None:
    registry.create_list()

    @settings(max_examples=100, deadline=None)
    @given(
        st.text(min_size=1, max_size=80),
        st.sampled_from(
            ["/lists/{}", "/processors/versions/{}", "/lists/{}.json", "/processors/versions/{}.pdf"]
        ),
    )
    def check(segment: str, template: str) -> None:
        response = client.get(template.format(quote(segment, safe="")))
        assert response.status_code < 500, (template, segment, response.status_code)

    check()
