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


def test_the_api_refuses_a_name_two_countries_go_by(api: Api, listed: Registry) -> None:
    processor = entry("Acme", locations=["Congo"], corporate_location="DR Congo")
    response = api.post("/lists/sub-processors/changes", addition(processor=processor))
    assert response.status_code == 422, response.get_json()
    assert "(CG) or" in str(response.get_json()) and "(CD)" in str(response.get_json())
