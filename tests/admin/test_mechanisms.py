"""Transfer mechanisms in the admin entry form: a group of checkboxes (several may be ticked, no
JavaScript needed), the rules the service applies, and the warning about a transfer out of the
EEA without a mechanism, shown next to the field once the draft is saved."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from registry.extensions import db
from registry.lists.models import Change
from tests.admin.conftest import SLUG, changes_of, entry_form, post

pytestmark = pytest.mark.usefixtures("clock", "published")

ADD = f"/admin/lists/{SLUG}/new-entry"


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def proposed(app: Flask, name: str) -> dict[str, object]:
    change_id = max(c[0] for c in changes_of(app) if c[3] == name)
    with app.app_context():
        change = db.session.get(Change, change_id)
        assert change is not None and change.proposed is not None
        return dict(change.proposed)


def ticked(page: str) -> list[str]:
    """The mechanisms whose checkboxes are ticked, in the form's order."""
    boxes = re.findall(r'<input[^>]*name="transfer_mechanisms"[^>]*>', page)
    values = [re.search(r'value="([^"]+)"', box) for box in boxes if "checked" in box]
    return [value.group(1) for value in values if value]


def test_the_form_offers_one_checkbox_per_mechanism(editor: FlaskClient) -> None:
    page = text(editor.get(ADD))
    boxes = re.findall(r'<input[^>]*name="transfer_mechanisms"[^>]*>', page)
    assert len(boxes) == 7 and all('type="checkbox"' in box for box in boxes)
    assert "<legend>Transfer mechanisms</legend>" in page


def test_an_entry_with_two_mechanisms_is_drafted_and_edited(app: Flask, editor: FlaskClient) -> None:
    data = entry_form("Zoom", locations="US", transfer_mechanisms=["dpf", "scc"])
    response = post(editor, ADD, data)
    assert response.status_code == 302 and response.location.endswith(f"/admin/lists/{SLUG}")
    assert proposed(app, "Zoom")["transfer_mechanisms"] == ["dpf", "scc"]

    change_id = max(c[0] for c in changes_of(app) if c[3] == "Zoom")
    page = text(editor.get(f"/admin/changes/{change_id}"))
    assert ticked(page) == ["scc", "dpf"]  # the form's order; both kept
    assert "field-warning" not in page

    edit = entry_form("Zoom", locations="US", transfer_mechanisms=["scc", "bcr"])
    edit["row_version"] = re.search(r'name="row_version" type="hidden" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    assert post(editor, f"/admin/changes/{change_id}", edit).status_code == 302
    assert proposed(app, "Zoom")["transfer_mechanisms"] == ["scc", "bcr"]


def test_an_update_shows_the_entry_s_mechanisms_ticked(editor: FlaskClient) -> None:
    page = text(editor.get(f"/admin/lists/{SLUG}/entries/stripe/edit"))
    assert ticked(page) == ["none"]


@pytest.mark.parametrize(
    ("mechanisms", "message"),
    [
        (["none", "scc"], "cannot be combined with another mechanism"),
        ([], "at least one is required"),
        (["pigeon"], "There is no transfer mechanism called 'pigeon'"),
    ],
)
def test_what_the_service_refuses_is_said_next_to_the_field(
    app: Flask, editor: FlaskClient, mechanisms: list[str], message: str
) -> None:
    before = changes_of(app)
    response = post(editor, ADD, entry_form("Zoom", locations="US", transfer_mechanisms=mechanisms))
    assert response.status_code == 422
    assert re.search(rf'id="transfer_mechanisms-error">[^<]*{re.escape(message)}', text(response))
    assert changes_of(app) == before


def test_a_transfer_out_of_the_eea_without_a_mechanism_is_saved_with_a_warning(
    app: Flask, editor: FlaskClient
) -> None:
    data = entry_form("Acme", locations="DE; US; SG", transfer_mechanisms=["none"])
    response = post(editor, ADD, data)
    assert response.status_code == 302  # a warning, not a refusal
    change_id = max(c[0] for c in changes_of(app) if c[3] == "Acme")
    assert response.location.endswith(f"/admin/changes/{change_id}")  # back to the form

    page = text(editor.get(response.location))
    warning = re.search(r'<p class="field-warning" id="transfer_mechanisms-warning"[^>]*>([^<]+)</p>', page)
    assert warning is not None
    assert "Acme processes outside the EEA (United States, Singapore)" in warning.group(1)
    assert "Germany" not in warning.group(1)
    assert 'aria-describedby="transfer_mechanisms-hint transfer_mechanisms-warning"' in page
    assert "Saved, but check it:" in page  # the flash says so too

    # Once a mechanism protects the transfer, the warning is gone.
    fixed = entry_form("Acme", locations="DE; US; SG", transfer_mechanisms=["scc"])
    fixed["row_version"] = re.search(r'name="row_version" type="hidden" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    response = post(editor, f"/admin/changes/{change_id}", fixed)
    assert response.status_code == 302 and response.location.endswith(f"/admin/lists/{SLUG}")
    assert "field-warning" not in text(editor.get(f"/admin/changes/{change_id}"))


def test_within_the_eea_no_mechanism_is_needed(app: Flask, editor: FlaskClient) -> None:
    data = entry_form("Hetzner", locations="DE; NO; IS", transfer_mechanisms=["none"])
    response = post(editor, ADD, data)
    assert response.status_code == 302 and response.location.endswith(f"/admin/lists/{SLUG}")


def test_the_announce_preview_and_the_notice_warn_too(app: Flask, editor: FlaskClient) -> None:
    """Whoever announces or approves the change reads the warning where the change is shown."""
    post(editor, ADD, entry_form("Acme", locations="US", transfer_mechanisms=["none"]))
    post(editor, ADD, entry_form("Zoom", locations="US", transfer_mechanisms=["dpf"]))
    ids = [c[0] for c in changes_of(app) if c[3] in ("Acme", "Zoom")]
    form = {
        "changes": [str(i) for i in ids],
        "reason": "Two new sub-processors.",
        "effective_date": "2027-02-15",
        "effective_time": "",
        "short_notice_reason": "",
    }
    preview = post(editor, f"/admin/lists/{SLUG}/announce", {**form, "action": "preview"})
    assert preview.status_code == 200
    warnings = re.findall(r'<p class="field-warning" role="status">([^<]+)</p>', text(preview))
    assert len(warnings) == 1 and warnings[0].startswith("Acme processes outside the EEA (United States)")
