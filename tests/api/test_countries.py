"""The API takes countries by name too, through the same ``clean_processor`` as the forms."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_changes import addition
from tests.conftest import Registry, entry


def test_the_api_takes_country_names(api: Api, listed: Registry) -> None:
    processor = entry("Stripe", locations=["Ireland", "USA"], corporate_location="United States")
    response = api.post("/lists/sub-processors/changes", addition(processor=processor))
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()["processor"]
    assert (stored["locations"], stored["corporate_location"]) == (["IE", "US"], "US")
