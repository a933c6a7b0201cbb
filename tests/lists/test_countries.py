"""Countries are read from codes or names, by one function (``countries.country_code``), in the
admin form, the API and ``import-list`` alike; what is stored is always the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from registry.countries import country_code
from registry.lists.fields import clean_processor
from registry.validation import ValidationError
from tests.conftest import Registry, entry

NAMES = [
    ("DE", "DE"),
    ("de", "DE"),
    ("Germany", "DE"),
    ("GERMANY", "DE"),
    ("USA", "US"),
    ("United States", "US"),
    ("United States of America", "US"),
    ("UK", "GB"),
    ("United Kingdom", "GB"),
    ("Cote d'Ivoire", "CI"),
    ("côte d’ivoire", "CI"),
    ("Türkiye", "TR"),
    ("Turkey", "TR"),
    ("South Korea", "KR"),
    ("Viet Nam", "VN"),
    ("Vietnam", "VN"),
]


@pytest.mark.parametrize(("typed", "code"), NAMES)
def test_a_country_is_read_from_its_code_name_or_alias(typed: str, code: str) -> None:
    assert country_code(typed) == code


@pytest.mark.parametrize("typed", ["Narnia", "Germ", "XX", "", "D"])
def test_what_names_no_country_is_none(typed: str) -> None:
    assert country_code(typed) is None


def test_clean_processor_stores_codes_and_names_the_unknown() -> None:
    clean = clean_processor(
        entry("Acme", locations=["Germany", "usa", "DE"], corporate_location="United Kingdom")
    )
    assert clean["locations"] == ["DE", "US"] and clean["corporate_location"] == "GB"
    with pytest.raises(ValidationError) as caught:
        clean_processor(entry("Acme", locations="Germany; Narnia", corporate_location="Atlantis"))
    assert caught.value.errors["locations"].startswith("There is no country called 'Narnia':")
    assert caught.value.errors["corporate_location"].startswith("There is no country called 'Atlantis':")


def test_import_list_takes_country_names(runner: FlaskCliRunner, registry: Registry, tmp_path: Path) -> None:
    registry.create_list()
    path = tmp_path / "names.csv"
    path.write_text(
        "name,purpose,locations,corporate_location,transfer_mechanism\r\n"
        "Acme,Hosting.,Germany; United Kingdom,USA,SCCs\r\n"
    )
    result = runner.invoke(args=["import-list", str(path)])
    assert result.exit_code == 0, result.output
    exported = json.loads(runner.invoke(args=["export-list"]).stdout)
    [acme] = exported["processors"]
    assert (acme["locations"], acme["corporate_location"]) == (["DE", "GB"], "US")
