"""Validation of a processor's fields: every error reported, codes and formats enforced."""

from __future__ import annotations

import pytest

from registry.lists.fields import clean_processor, slugify, transfer_warning
from registry.validation import ValidationError
from tests.conftest import entry


def test_a_valid_entry_is_normalised() -> None:
    clean = clean_processor(
        entry(
            "  Acme Analytics ",
            locations="us; de;US",
            data_categories=["Email address", " Name ", "Email address"],
            transfer_mechanisms=["SCC"],
            since="2026-01-05",
        )
    )
    assert clean["id"] == "acme-analytics"
    assert clean["name"] == "Acme Analytics"
    assert clean["locations"] == ["US", "DE"]
    assert clean["data_categories"] == ["Email address", "Name"]
    assert clean["transfer_mechanisms"] == ["scc"]
    assert clean["since"] == "2026-01-05"


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        clean_processor(
            {
                "name": "",
                "purpose": "",
                "locations": ["XX"],
                "transfer_mechanisms": ["magic"],
                "kind": "friend",
                "website": "javascript:alert(1)",
                "since": "yesterday",
                "colour": "blue",
            }
        )
    assert set(caught.value.errors) == {
        "name",
        "purpose",
        "locations",
        "transfer_mechanisms",
        "kind",
        "website",
        "since",
        "fields",
    }
    assert "XX" in caught.value.errors["locations"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", '=HYPERLINK("http://evil")', "formulas"),
        ("purpose", "@SUM(A1)", "formulas"),
        ("data_categories", ["+cmd"], "formulas"),
        ("data_categories", ["a;b"], "';'"),
        ("name", "two\nlines", "one line"),
        ("name", "x" * 201, "200 characters or fewer"),
        ("name", 42, "must be text"),
        ("locations", [], "at least one"),
        ("locations", "DE\x00", "one line"),
        ("purpose", "Hosting \ud800", "invalid characters"),
        ("name", "Acme\x01", "control characters"),
        ("purpose", "Bell\x07 and escape\x1b[31m", "control characters"),
        ("data_categories", ["Na\x0bme"], "one line"),
        ("data_categories", ["Name\udfff"], "one line"),
        ("corporate_location", "Atlantis", "There is no country called 'Atlantis'"),
        ("id", "Not A Slug", "lowercase"),
    ],
)
def test_bad_values_are_refused_with_a_message(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        clean_processor({**entry("Acme"), field: value})
    assert message in caught.value.errors[field]


def test_not_an_object() -> None:
    with pytest.raises(ValidationError) as caught:
        clean_processor(["name"])  # type: ignore[arg-type]
    assert "processor" in caught.value.errors


def test_slugify() -> None:
    assert slugify("Amazon Web Services (EU)") == "amazon-web-services-eu"
    assert slugify("!!!") == "processor"


@pytest.mark.parametrize(
    ("given", "codes"),
    [
        ("EU-US Data Privacy Framework and Standard Contractual Clauses", ["dpf", "scc"]),
        ("DPF, SCCs", ["dpf", "scc"]),
        ("SCCs; BCRs", ["scc", "bcr"]),
        ("DPF / SCC", ["dpf", "scc"]),
        ("SCCs and/or DPF", ["scc", "dpf"]),
        ("Standard Contractual Clauses (SCCs)", ["scc"]),  # not split inside the parentheses
        ("Standard Contractual Clauses (SCCs) & EU-U.S. DPF", ["scc", "dpf"]),
        ("No transfer (processing within the EEA)", ["none"]),
        (["DPF", "Standard Contractual Clauses"], ["dpf", "scc"]),
        (["bcr", "DPF and SCCs"], ["bcr", "dpf", "scc"]),
    ],
)
def test_several_mechanisms_are_read_as_published_lists_write_them(given: object, codes: list[str]) -> None:
    assert clean_processor(entry("Acme", transfer_mechanisms=given))["transfer_mechanisms"] == codes


def test_the_older_single_field_is_read_as_a_list() -> None:
    data = entry("Acme", transfer_mechanism="DPF and SCCs")
    del data["transfer_mechanisms"]
    clean = clean_processor(data)
    assert clean["transfer_mechanisms"] == ["dpf", "scc"] and "transfer_mechanism" not in clean
    with pytest.raises(ValidationError, match="Give transfer_mechanisms only"):
        clean_processor({**data, "transfer_mechanisms": ["scc"]})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["none", "scc"], "cannot be combined with another mechanism"),
        ("No transfer, SCCs", "cannot be combined with another mechanism"),
        (["scc", "Standard Contractual Clauses (SCCs)"], "names Standard Contractual Clauses (scc) twice"),
        ("DPF and Privacy Shield", "There is no transfer mechanism called 'Privacy Shield': use one of none"),
        ([], "at least one is required"),
        ("", "at least one is required"),
        ({"dpf": True}, "must be a list of mechanism codes"),
        (["=cmd()"], "formulas"),
    ],
)
def test_mechanisms_that_cannot_be_published(given: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        clean_processor(entry("Acme", transfer_mechanisms=given))
    assert message in caught.value.errors["transfer_mechanisms"]


@pytest.mark.parametrize(
    ("locations", "mechanisms", "warned"),
    [
        (["US"], ["none"], "United States"),
        (["DE", "US", "CH"], ["none"], "United States, Switzerland"),
        (["US"], [], "United States"),
        (["US"], ["scc"], None),
        (["US"], ["adequacy"], None),
        (["DE", "IS", "LI", "NO", "EU"], ["none"], None),
        (["FR", "HR", "CY"], ["none"], None),
    ],
)
def test_a_transfer_out_of_the_eea_without_a_mechanism_is_warned_of(
    locations: list[str], mechanisms: list[str], warned: str | None
) -> None:
    warning = transfer_warning({"name": "Acme", "locations": locations, "transfer_mechanisms": mechanisms})
    if warned is None:
        assert warning is None
    else:
        assert warning is not None and f"Acme processes outside the EEA ({warned})" in warning
    # The stored shape of older versions reads the same.
    old = {"name": "Acme", "locations": locations, "transfer_mechanism": mechanisms[0] if mechanisms else ""}
    assert transfer_warning(old) == warning


# Inputs that between them draw every message ``clean_processor`` has.
_EVERY_MISTAKE: list[dict[str, object]] = [
    {
        "name": "",
        "purpose": "",
        "locations": [],
        "transfer_mechanisms": [],
        "colour": "red",
        "id": "Not A Slug",
    },
    {
        "name": 42,
        "purpose": "x" * 5000,
        "locations": ["Narnia"],
        "corporate_location": "Atlantis",
        "kind": "Supplier",
    },
    {
        "name": "two\nlines",
        "data_categories": ["a;b"],
        "locations": ["DE"] * 51,
        "transfer_mechanisms": ["pigeon"],
    },
    {
        "name": "=SUM(1)",
        "data_categories": {"a": 1},
        "transfer_mechanisms": ["none", "scc"],
        "website": "ftp://x",
    },
    {
        "name": "Acme\u202e",
        "data_categories": ["=cmd"],
        "transfer_mechanisms": ["scc", "SCCs"],
        "since": "soon",
    },
    {"name": "x" * 201, "data_categories": ["Na\u200bme"], "transfer_mechanisms": {"dpf": True}},
    {
        "name": "Acme",
        "transfer_mechanism": "SCC",
        "transfer_mechanisms": ["scc"],
        "safeguards_url": "https://[x",
    },
    {"name": "Acme", "transfer_mechanisms": ["scc"] * 8},
]


@pytest.mark.parametrize("mistake", _EVERY_MISTAKE)
def test_every_message_is_a_sentence_that_says_what_to_do(mistake: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        clean_processor({**entry("Acme"), **mistake})
    assert caught.value.errors
    for field, message in caught.value.errors.items():
        assert message[0].isupper() and message.endswith("."), (field, message)
