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
    ("Democratic Republic of the Congo", "CD"),
    ("DR Congo", "CD"),
    ("Republic of the Congo", "CG"),
    ("Georgia", "GE"),
    ("\u200bGermany", "DE"),  # an invisible character pasted along
]


@pytest.mark.parametrize(("typed", "code"), NAMES)
def test_a_country_is_read_from_its_code_name_or_alias(typed: str, code: str) -> None:
    assert country_code(typed) == code


# Cyrillic letters that look Latin: "Nigeria" with "іа", "Oman" with "О". Dropping them would
# read another country ("Niger"), or none.
HOMOGLYPHS = ["Niger\u0456\u0430", "\u041eman", "Chin\u0430", "Korea (\ud55c\uad6d)", "\u65e5\u672c"]


@pytest.mark.parametrize("typed", ["Narnia", "Germ", "XX", "", "D", " \t", "\x00", "A" * 10_000, *HOMOGLYPHS])
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


@pytest.mark.parametrize("typed", ["Congo", "the Congo", " CONGO "])
def test_a_name_two_countries_go_by_is_refused_with_both(typed: str) -> None:
    assert country_code(typed) is None
    with pytest.raises(ValidationError) as caught:
        clean_processor(entry("Acme", locations=["Germany", typed], corporate_location=typed))
    for field in ("locations", "corporate_location"):
        message = caught.value.errors[field]
        assert message.startswith("The name ") and "(CG) or " in message and "(CD)" in message, message
