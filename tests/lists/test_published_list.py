"""A list as a company publishes it imports with no edits: labels, a bare array, shared names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from registry.lists.fields import kind_code, mechanism_code
from tests.conftest import Registry

PUBLISHED = Path(__file__).with_name("published_list.json")


def _import(runner: FlaskCliRunner, path: Path, *args: str) -> str:
    result = runner.invoke(args=["import-list", str(path), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _export(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=["export-list", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _write(tmp_path: Path, name: str, rows: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(rows))
    return path


def test_a_published_list_imports_exports_and_reimports_exactly(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "published.json"
    shutil.copy(PUBLISHED, path)
    published = json.loads(path.read_text())
    assert isinstance(published, list) and len(published) == 34

    output = _import(runner, path, "--title", "Sub-processors")
    assert "published version 1 with 34 change(s)" in output
    # The two entries named alike get ids of their own, and the import says which.
    assert "'Microsoft (Azure)'" in output
    assert (
        "microsoft-azure-cloud-hosting (row 2)" in output and "microsoft-azure-ai-services (row 15)" in output
    )

    exported = _export(runner)
    entries = {entry["id"]: entry for entry in json.loads(exported)["processors"]}
    assert len(entries) == 34
    assert entries["microsoft-azure-cloud-hosting"]["purpose"].startswith("Cloud hosting")
    assert entries["microsoft-azure-ai-services"]["purpose"].startswith("AI services")
    assert entries["amazon-web-services"]["transfer_mechanisms"] == ["scc"]
    assert entries["microsoft-azure-cloud-hosting"]["transfer_mechanisms"] == ["dpf"]
    assert entries["example-software-inc"]["transfer_mechanisms"] == ["intragroup"]
    assert all("transfer_mechanism" not in entry for entry in entries.values())
    # Several mechanisms in one text, as published lists write them, in the order written.
    assert entries["zoom"]["transfer_mechanisms"] == ["dpf", "scc"]
    assert entries["segment"]["transfer_mechanisms"] == ["dpf", "scc"]
    assert entries["accenture"]["transfer_mechanisms"] == ["scc", "bcr"]
    assert entries["pagerduty"]["transfer_mechanisms"] == ["dpf", "scc"]
    assert entries["example-software-inc"]["kind"] == "affiliate"
    assert entries["zendesk"]["kind"] == "subprocessor"
    # What the file does not date stays undated: the import day is not when processing began.
    assert entries["google-workspace"]["since"] is None
    assert entries["stripe"]["since"] == "2019-03-01"
    assert sum(entry["since"] is None for entry in entries.values()) == 12

    # The original file again changes nothing: the ids it derives are stable.
    assert "nothing changed" in _import(runner, path)

    for fmt in ("json", "csv"):
        first = _export(runner, "--format", fmt)
        exported_path = tmp_path / f"export.{fmt}"
        exported_path.write_bytes(first.encode())
        assert "nothing changed" in _import(runner, exported_path)
        _import(runner, exported_path, "--list", f"copy-{fmt}", "--title", "Sub-processors")
        copy = _export(runner, "--list", f"copy-{fmt}", "--format", fmt)
        if fmt == "json":  # the one difference is the slug the copy was given
            copy = copy.replace(f'"slug": "copy-{fmt}"', '"slug": "sub-processors"')
        assert copy == first


def test_the_pages_show_an_undated_entry_and_the_new_mechanism(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    _import(runner, PUBLISHED, "--title", "Sub-processors")
    client = runner.app.test_client()
    page = client.get("/processors")
    assert page.status_code == 200
    assert "Intra-group agreement" in page.text
    google = page.text[page.text.index("Google Workspace") :]
    assert "—" in google[: google.index("</tr>")]  # processing since: not known
    csv_text = client.get("/processors.csv").text
    google = next(line for line in csv_text.splitlines() if line.startswith("google-workspace,"))
    assert google.endswith(",")  # the since column is empty
    assert client.get("/processors.json").status_code == 200


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("Sub-processor", "subprocessor"),
        ("Subprocessor", "subprocessor"),
        ("sub-processor", "subprocessor"),
        ("Third-party sub-processor", "subprocessor"),
        ("SUBPROCESSOR", "subprocessor"),
        ("Sub-contractor", "subcontractor"),
        ("Affiliate", "affiliate"),
        ("Affiliates", "affiliate"),
    ],
)
def test_kinds_are_read_from_their_labels(label: str, code: str) -> None:
    assert kind_code(label) == code


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("SCCs", "scc"),
        ("Standard Contractual Clauses", "scc"),
        ("Standard Contractual Clauses (SCCs)", "scc"),
        ("EU SCCs", "scc"),
        ("EU-U.S. DPF", "dpf"),
        ("EU-US Data Privacy Framework", "dpf"),
        ("EU-U.S. Data Privacy Framework (DPF)", "dpf"),
        ("Intra-group agreement", "intragroup"),
        ("intragroup agreement", "intragroup"),
        ("Binding Corporate Rules (BCRs)", "bcr"),
        ("Adequacy decision", "adequacy"),
        ("Article 49 derogation", "derogation"),
        ("No transfer", "none"),
        ("None", "none"),
        ("dpf", "dpf"),
    ],
)
def test_mechanisms_are_read_from_their_labels(label: str, code: str) -> None:
    assert mechanism_code(label) == code


def test_unknown_values_are_quoted_and_a_repeated_mistake_is_said_once(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    registry.create_list()
    rows = [
        {
            "name": f"Vendor {n}",
            "purpose": "Things.",
            "locations": ["DE"],
            "kind": "Supplier",
            "transfer_mechanism": "SCCs",
        }
        for n in range(1, 6)
    ]
    rows[3]["transfer_mechanism"] = "Privacy Shield"
    result = runner.invoke(args=["import-list", str(_write(tmp_path, "bad.json", rows))])
    assert result.exit_code == 1
    assert "fix these 2 problem(s)" in result.output
    assert (
        "rows 1-5: kind: There is no kind called 'Supplier': use one of "
        "subprocessor (Third-party sub-processor), subcontractor (Subcontractor), affiliate (Affiliate)"
    ) in result.output
    assert (
        "row 4: transfer_mechanisms: There is no transfer mechanism called 'Privacy Shield'" in result.output
    )
    assert "intragroup (Intra-group agreement)" in result.output
    assert json.loads(_export(runner))["processors"] == []


def test_entries_named_alike_get_distinct_stable_ids(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    registry.create_list()
    same = {"name": "Acme", "locations": ["DE"], "transfer_mechanism": "none"}
    rows = [
        {**same, "purpose": "Hosting."},
        {"name": "Other", "purpose": "Mail.", "locations": ["DE"], "transfer_mechanism": "none"},
        {**same, "purpose": "Backups."},
    ]
    output = _import(runner, _write(tmp_path, "one.json", rows))
    assert "acme-hosting (row 1)" in output and "acme-backups (row 3)" in output
    # The same entries in another order keep their ids: nothing changes.
    assert "nothing changed" in _import(runner, _write(tmp_path, "two.json", rows[::-1]))
    ids = sorted(entry["id"] for entry in json.loads(_export(runner))["processors"])
    assert ids == ["acme-backups", "acme-hosting", "other"]


def test_an_id_in_the_file_is_kept_even_where_names_repeat(
    runner: FlaskCliRunner, registry: Registry, tmp_path: Path
) -> None:
    registry.create_list()
    same = {"name": "Acme", "locations": ["DE"], "transfer_mechanism": "none"}
    rows = [{**same, "purpose": "Hosting.", "id": "acme"}, {**same, "purpose": "Backups."}]
    _import(runner, _write(tmp_path, "ids.json", rows))
    ids = sorted(entry["id"] for entry in json.loads(_export(runner))["processors"])
    assert ids == ["acme", "acme-backups"]
