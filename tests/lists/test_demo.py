"""The demo: a realistic history, built through the same services as real edits."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from tests.conftest import sign_in


def test_demo_loads_once_with_history(runner: FlaskCliRunner, client: FlaskClient) -> None:
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0 and "version 5" in result.output
    assert "already holds lists" in runner.invoke(args=["demo"]).output

    document = client.get("/processors.json").get_json()
    names = {p["name"] for p in document["processors"]}
    assert {"Microsoft Azure", "Amazon Web Services", "Intercom", "Sentry"} <= names
    assert "Zendesk" not in names and "Northwind Consulting" not in names
    assert [u["processor"]["name"] for u in document["upcoming"]] == ["OpenAI"]

    # The replacement of Zendesk by Intercom and Cloudflare's new location are one version.
    diff = client.get("/processors/diff.json?from=3&to=4").get_json()
    assert [e["name"] for e in diff["added"]] == ["Intercom"]
    assert [e["name"] for e in diff["removed"]] == ["Zendesk"]
    assert diff["changed"][0]["fields"] == {
        "locations": {"old": ["US", "DE", "SG"], "new": ["US", "DE", "SG", "JP"]}
    }
    changes = client.get("/processors/changes").get_data(as_text=True)
    assert "Clarified Datadog" in changes and "Correction, published without notice" in changes
    assert client.get("/lists/website.json").get_json()["version"] == 1


def test_demo_users_can_sign_in(runner: FlaskCliRunner, client: FlaskClient, app: Flask) -> None:
    output = runner.invoke(args=["demo"]).output
    found = dict(re.findall(r"(\S+@example\.com)\s+\(\w+\)\s+password (\S+)", output))
    assert set(found) == {"admin@example.com", "editor@example.com"}
    assert (Path(app.instance_path) / "demo-users.txt").read_text().count("@example.com") == 2
    assert sign_in(client, "editor@example.com", found["editor@example.com"]).status_code == 302


def test_the_demo_subscriber_gets_the_upcoming_change_as_a_file(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
) -> None:
    output = runner.invoke(args=["demo"]).output
    assert f"Emails land in {tmp_path / 'mail'} as .eml files" in output
    assert "the demo subscriber is subscriber@example.com" in output
    assert "deliver-outbox: sent 1," in runner.invoke(args=["run-jobs"]).output
    [message] = (tmp_path / "mail").glob("*.eml")
    text = message.read_text()
    assert "To: subscriber@example.com" in text
    assert "Subject: New sub-processor: OpenAI" in text
    assert "deliver-outbox: sent 0," in runner.invoke(args=["run-jobs"]).output
