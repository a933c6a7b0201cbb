"""The entry form takes countries by name, one box each, with JavaScript off (plain POSTs):
they are stored as codes and shown again by name."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.extensions import db
from registry.lists.models import Change
from tests.admin.conftest import SLUG, changes_of, entry_form, post

pytestmark = pytest.mark.usefixtures("clock", "published")


def test_the_entry_form_takes_names_in_separate_boxes_without_javascript(
    app: Flask, editor: FlaskClient
) -> None:
    data: dict[str, Any] = entry_form("Acme", corporate_location="USA", transfer_mechanisms=["scc"])
    # One box per country, as the form sends them (several boxes named alike, one left empty).
    data["locations"] = ["Germany", "United States of America", ""]
    response = post(editor, f"/admin/lists/{SLUG}/new-entry", data)
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        change = db.session.get(Change, changes_of(app)[-1][0])
        assert change is not None and change.proposed is not None
        assert change.proposed["locations"] == ["DE", "US"]
        assert change.proposed["corporate_location"] == "US"
    # The draft's form shows the countries by name.
    page = editor.get(f"/admin/changes/{change.id}").get_data(as_text=True)
    assert 'value="Germany"' in page and 'value="United States"' in page


def test_the_entry_form_names_an_unknown_country(editor: FlaskClient) -> None:
    data = entry_form("Acme", locations="Narnia", transfer_mechanisms=["scc"])
    response = post(editor, f"/admin/lists/{SLUG}/new-entry", data)
    assert response.status_code == 422
    assert "There is no country called &#39;Narnia&#39;" in response.get_data(as_text=True)
