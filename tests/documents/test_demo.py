"""The demo's privacy policy: two published revisions and a visible diff between them."""

from __future__ import annotations

from flask.testing import FlaskClient, FlaskCliRunner


def test_the_demo_loads_a_privacy_policy_with_two_revisions(
    runner: FlaskCliRunner, client: FlaskClient
) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    page = client.get("/documents/privacy-policy").get_data(as_text=True)
    assert "Revision 2" in page and "Example Cloud Ltd" in page
    for promise in ("unsubscribe", "access, correct or delete", "anonymised", "told by email"):
        assert promise in page, promise
    assert client.get("/documents/privacy-policy/revisions/1").status_code == 200
    diff = client.get("/documents/privacy-policy/diff?from=1&to=2").get_data(as_text=True)
    assert "<ins>" in diff and "<del>" in diff
    text = client.get("/documents/privacy-policy/diff.txt?from=1&to=2").get_data(as_text=True)
    assert text.startswith("--- privacy-policy/revisions/1\n+++ privacy-policy/revisions/2\n")
    assert "-We may change this policy. The current version is always at this address." in text
    assert "+with a summary and the exact differences" in text
