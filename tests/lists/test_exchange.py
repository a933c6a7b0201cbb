"""Import and export through the CLI: exact round trips, and all-or-nothing validation."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from tests.conftest import Registry, entry


def _export(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=["export-list", *args])
    assert result.exit_code == 0, result.output
    # The bytes as written: ``result.stdout`` would turn the CSV's CRLF into LF.
    return result.stdout_bytes.decode()


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_demo_export_round_trips_exactly(
    runner: FlaskCliRunner, app_factory: Callable[..., Flask], tmp_path: Path, fmt: str, db_url: str
) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    exported = _export(runner, "--format", fmt)
    path = tmp_path / f"list.{fmt}"
    path.write_bytes(exported.encode())

    # Importing its own export changes nothing...
    result = runner.invoke(args=["import-list", str(path)])
    assert result.exit_code == 0, result.output
    assert "nothing changed" in result.output

    # ...and into a list that does not exist yet, exports to the same bytes.
    result = runner.invoke(args=["import-list", str(path), "--list", "copy", "--title", "Sub-processors"])
    assert result.exit_code == 0, result.output
    assert "published version 1" in result.output
    copy = _export(runner, "--list", "copy", "--format", fmt)
    if fmt == "json":
        original, copied = json.loads(exported), json.loads(copy)
        assert copied["processors"] == original["processors"]
        assert copied["list"]["introduction"] == original["list"]["introduction"]
    else:
        assert copy == exported


def test_import_publishes_the_difference_as_one_version(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    document = json.loads(_export(runner))
    document["processors"] = [p for p in document["processors"] if p["id"] != "datadog"]
    document["processors"][0]["purpose"] = "Storage of attachments."
    document["processors"].append(
        {"name": "Hetzner", "purpose": "Backups.", "locations": ["DE"], "transfer_mechanism": "none"}
    )
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))

    # A published list is held to the notice rules: an addition is no correction...
    refused = runner.invoke(args=["import-list", str(path), "--reason", "Yearly review."])
    assert refused.exit_code == 1
    assert "a correction may only fix a few words. Announce it with notice instead" in refused.output
    assert "hetzner" not in [p["id"] for p in json.loads(_export(runner))["processors"]]

    # ...so it is announced, and the list changes only when the notice takes effect.
    effective = (datetime.now(UTC) + timedelta(days=31)).date().isoformat()
    arguments = ["import-list", str(path), "--reason", "Yearly review.", "--effective", effective]
    result = runner.invoke(args=arguments)
    assert result.exit_code == 0, result.output
    assert "announced 3 change(s) as notice" in result.output and effective in result.output
    ids = [p["id"] for p in json.loads(_export(runner))["processors"]]
    assert "datadog" in ids and "hetzner" not in ids
    upcoming = [
        u["processor"]["name"]
        for u in json.loads(runner.app.test_client().get("/processors.json").data)["upcoming"]
    ]
    assert "Hetzner" in upcoming


def test_import_reports_every_problem_and_writes_nothing(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    registry.create_list()
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,name,purpose,locations,transfer_mechanism\r\n"
        "good,Good,Hosting.,DE,none\r\n"
        ",,No name.,DE,none\r\n"
        ",Bad country,Things.,XX,none\r\n"
        "good,Good,Twice.,DE,none\r\n"
    )
    result = runner.invoke(args=["import-list", str(path)])
    assert result.exit_code == 1
    assert "nothing was imported" in result.output
    assert "row 3: name: Enter the name of the processor, for example 'Stripe'." in result.output
    assert "row 4: locations: There is no country called 'XX': enter a country's name" in result.output
    assert "row 5: id: 'good' is also used by row 2" in result.output
    assert json.loads(_export(runner))["processors"] == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.json", "{not json", "not valid JSON"),
        ("x.json", '"processors"', '"processors" array'),
        ("x.json", '{"processors": [], "list": 3}', '"list" must be an object'),
        ("x.csv", "colour,name\r\nred,Acme\r\n", "unknown: colour"),
        ("x.csv", "", "header"),
    ],
)
def test_malformed_files_are_refused(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path, name: str, content: str, message: str
) -> None:
    registry.create_list()
    path = tmp_path / name
    path.write_text(content)
    result = runner.invoke(args=["import-list", str(path)])
    assert result.exit_code == 1
    assert message in result.output


def test_export_of_an_unknown_list(runner: FlaskCliRunner, registry: Registry) -> None:
    result = runner.invoke(args=["export-list", "--list", "nope"])
    assert result.exit_code == 1 and "no list called 'nope'" in result.output


def test_an_import_into_a_list_with_four_eyes_says_on_whose_behalf(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    """Whoever runs the import is a contributor: an anonymous import could be approved by them."""
    from tests.conftest import Users

    assert runner.invoke(args=["demo"]).exit_code == 0
    document = json.loads(_export(runner))
    document["processors"][0]["purpose"] += " Fixed."
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    runner.invoke(args=["import-list", str(path)])  # nothing yet: four eyes are off
    with registry.app.app_context():
        from registry.extensions import db
        from registry.lists import services

        register_list = services.get_list(db.session, "sub-processors")
        assert register_list is not None
        register_list.requires_approval = True
        db.session.commit()
    document["processors"][0]["purpose"] += " Again."
    path.write_text(json.dumps(document))
    anonymous = runner.invoke(args=["import-list", str(path)])
    assert anonymous.exit_code == 1 and "--as EMAIL" in anonymous.output
    Users(registry.app).create("importer@example.com", "editor")
    named = runner.invoke(args=["import-list", str(path), "--as", "importer@example.com"])
    assert named.exit_code == 0 and "wait for approval as notice" in named.output
    unknown = runner.invoke(args=["import-list", str(path), "--as", "nobody@example.com"])
    assert unknown.exit_code == 1 and "no active user" in unknown.output


def test_a_purpose_typed_in_a_browser_keeps_its_crlf_through_csv(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    """A textarea sends CRLF; the CSV export quotes it and the import reads it back as it was,
    so the list and its own export stay the same bytes."""
    registry.create_list()
    purpose = "Hosting of the service.\r\nBackups, kept 30 days.\nLogs."
    registry.publish("sub-processors", entry("Acme", purpose=purpose))
    exported = _export(runner, "--format", "csv")
    assert '"Hosting of the service.\r\nBackups, kept 30 days.\nLogs."' in exported
    path = tmp_path / "list.csv"
    path.write_bytes(exported.encode())

    assert "nothing changed" in runner.invoke(args=["import-list", str(path)]).output
    result = runner.invoke(args=["import-list", str(path), "--list", "copy", "--title", "Copy"])
    assert result.exit_code == 0, result.output
    assert _export(runner, "--list", "copy", "--format", "csv") == exported
    copy = json.loads(_export(runner, "--list", "copy"))["processors"]
    assert copy[0]["purpose"] == purpose


def test_a_csv_names_several_mechanisms_in_one_cell(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    registry.create_list()
    path = tmp_path / "list.csv"
    path.write_text(
        "name,purpose,locations,transfer_mechanisms\r\n"
        "Zoom,Calls.,US,EU-US Data Privacy Framework and Standard Contractual Clauses\r\n"
        'Segment,Events.,US,"DPF, SCCs"\r\n'
        "Accenture,Projects.,IE; IN,SCCs; BCRs\r\n"
        "PagerDuty,Alerts.,US,DPF / Standard Contractual Clauses (SCCs)\r\n"
        "Hetzner,Backups.,DE,No transfer (processing within the EEA)\r\n",
        newline="",
    )
    result = runner.invoke(args=["import-list", str(path)])
    assert result.exit_code == 0, result.output
    found = {p["id"]: p["transfer_mechanisms"] for p in json.loads(_export(runner))["processors"]}
    assert found == {
        "zoom": ["dpf", "scc"],
        "segment": ["dpf", "scc"],
        "accenture": ["scc", "bcr"],
        "pagerduty": ["dpf", "scc"],
        "hetzner": ["none"],
    }
    # The export joins them as it joins locations.
    exported = _export(runner, "--format", "csv")
    assert ",IE; IN,," in exported and ",scc; bcr," in exported


def test_an_unknown_mechanism_among_several_is_quoted_once_with_its_rows(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    registry.create_list()
    path = tmp_path / "list.csv"
    path.write_text(
        "name,purpose,locations,transfer_mechanism\r\n"
        "A,Calls.,US,DPF and Privacy Shield\r\n"
        "B,Calls.,US,SCCs\r\n"
        "C,Calls.,US,Privacy Shield; SCCs\r\n"
        "D,Calls.,US,none and SCCs\r\n",
        newline="",
    )
    result = runner.invoke(args=["import-list", str(path)])
    assert result.exit_code == 1
    assert (
        "rows 2, 4: transfer_mechanisms: There is no transfer mechanism called 'Privacy Shield': "
        "use one of none (No transfer (processing within the EEA)), adequacy"
    ) in result.output
    assert (
        "row 5: transfer_mechanisms: Choose either other mechanisms or No transfer (processing within "
        "the EEA) (none): it cannot be combined" in (result.output)
    )
    assert "fix these 2 problem(s)" in result.output


def test_the_import_warns_of_transfers_out_of_the_eea_without_a_mechanism(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    registry.create_list()
    rows = [
        {"name": "Acme", "purpose": "Calls.", "locations": ["DE", "US", "JP"], "transfer_mechanism": "none"},
        {"name": "Bolt", "purpose": "Rides.", "locations": ["EE"], "transfer_mechanism": "none"},
        {"name": "Mail", "purpose": "Mail.", "locations": ["US"], "transfer_mechanisms": ["scc"]},
        {"name": "Zed", "purpose": "Edits.", "locations": ["IN"], "transfer_mechanisms": "No transfer"},
    ]
    path = tmp_path / "list.json"
    path.write_text(json.dumps(rows))
    result = runner.invoke(args=["import-list", str(path)])
    assert result.exit_code == 0, result.output  # warned, and imported
    warnings = [line for line in result.output.splitlines() if ": warning: " in line]
    assert len(warnings) == 2
    assert warnings[0].startswith(
        f"{path}: warning: acme: Acme processes outside the EEA (United States, Japan)"
    )
    assert warnings[1].startswith(f"{path}: warning: zed: Zed processes outside the EEA (India)")
    assert len(json.loads(_export(runner))["processors"]) == 4


def test_a_file_that_is_not_utf8_is_refused_with_a_message(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    registry.create_list()
    path = tmp_path / "list.csv"
    path.write_bytes("name,purpose,locations,transfer_mechanisms\r\nMüller,X.,DE,none\r\n".encode("latin-1"))
    result = runner.invoke(args=["import-list", str(path)])
    assert result.exit_code == 1
    assert "nothing was imported: not UTF-8 text" in result.output
