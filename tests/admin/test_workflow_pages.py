"""The change workflow through the admin pages, as an editor's browser drives it: draft, preview,
announce, short notice, four eyes, rejection, withdrawal, correction, history, dashboard.
Each step is checked where it shows: the public JSON and change log, and the audit trail."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.admin.conftest import (
    SLUG,
    approve,
    audit_actions,
    changes_of,
    entry_form,
    post,
    public_upcoming,
    set_requires_approval,
    withdraw,
)
from tests.conftest import NOW, Registry, entry, seen_on

pytestmark = pytest.mark.usefixtures("clock", "published")

LIST = f"/admin/lists/{SLUG}"
ANNOUNCE = f"{LIST}/announce"
ADD = f"{LIST}/new-entry"


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page) or re.search(
        rf'type="hidden" name="{name}" value="([^"]*)"', page
    )
    assert match, f"no hidden {name}"
    return match.group(1)


def workflow_actions(app: Flask, actor: str | None = None) -> list[str]:
    return [a for a in audit_actions(app, actor) if a.split(".")[0] in ("change", "notice", "version")]


def draft_addition(client: FlaskClient, app: Flask, name: str = "Acme", **fields: str) -> int:
    data = entry_form(name, locations="US", corporate_location="US", transfer_mechanisms=["dpf"], **fields)
    response = post(client, ADD, data)
    assert response.status_code == 302, text(response)
    return max(c[0] for c in changes_of(app) if c[3] == name)


def announce_form(*change_ids: int, **overrides: str) -> dict[str, object]:
    data: dict[str, object] = {
        "changes": [str(i) for i in change_ids],
        "reason": "Acme runs our status page.",
        "effective_date": "2027-02-15",
        "effective_time": "",
        "short_notice_reason": "",
        "action": "announce",
    }
    data.update(overrides)
    return data


def notice_id_of(response: TestResponse) -> int:
    assert response.status_code == 302, text(response)
    match = re.fullmatch(r"/admin/notices/(\d+)", response.location)
    assert match, response.location
    return int(match.group(1))


def test_an_editor_drafts_previews_and_announces_an_addition(app: Flask, editor: FlaskClient) -> None:
    public = app.test_client()
    assert editor.get(ADD).status_code == 200

    response = post(
        editor, ADD, entry_form("Acme", locations="US", corporate_location="US", transfer_mechanisms=["dpf"])
    )
    assert response.status_code == 302 and response.location == LIST
    assert "Drafted: New sub-processor: Acme (United States)" in text(editor.get(LIST))
    change_id = changes_of(app)[-1][0]
    assert changes_of(app)[-1] == (change_id, "add", "draft", "Acme")
    assert public_upcoming(public) == []

    form = text(editor.get(ANNOUNCE))
    assert f'value="{change_id}" id="changes-{change_id}" checked' in form  # the author's own draft
    assert "9 February 2027, 12:00 UTC" in form  # NOW + the 30-day notice period
    assert 'value="2027-02-10"' in form  # the first whole day it allows

    preview = post(editor, ANNOUNCE, announce_form(change_id, action="preview"))
    assert preview.status_code == 200
    page = text(preview)
    assert "New sub-processor: Acme (United States), effective 2027-02-15" in page
    assert "13 February 2027, end of day UTC" in page  # objections close at the end of the day before
    assert "14 February 2027, 00:00 UTC" not in page  # which read as a day late
    assert "Acme runs our status page." in page
    assert 'name="action" value="announce"' in page
    # A preview changes nothing.
    assert changes_of(app)[-1][2] == "draft"
    assert public_upcoming(public) == []
    assert "notice.announce" not in audit_actions(app)

    notice_id = notice_id_of(post(editor, ANNOUNCE, announce_form(change_id)))
    assert "Announced: New sub-processor: Acme (United States), effective 2027-02-15." in text(
        editor.get(f"/admin/notices/{notice_id}")
    )
    upcoming = public_upcoming(public)
    assert [(u["processor"]["name"], u["effective_at"], u["objection_deadline"]) for u in upcoming] == [
        ("Acme", "2027-02-15T00:00:00Z", "2027-02-14T00:00:00Z")
    ]
    assert workflow_actions(app, "editor@example.com") == ["change.draft", "notice.announce"]


def test_invalid_fields_are_shown_next_to_them_and_kept(app: Flask, editor: FlaskClient) -> None:
    before = changes_of(app)
    data = entry_form(
        "",
        locations="DE\nXX",
        website="ftp://example.com",
        since="15/01/2027",
        transfer_mechanisms=["carrier-pigeon"],
    )
    response = post(editor, ADD, data)
    assert response.status_code == 422
    page = text(response)
    for field, message in [
        ("name", "Enter the name of the processor, for example 'Stripe'."),
        ("locations", "There is no country called 'XX': enter a country's name"),
        ("website", "Enter the website as an address starting with https:// (or http://)."),
        ("since", "Enter the date processing began as YYYY-MM-DD"),
        ("transfer_mechanisms", "There is no transfer mechanism called 'carrier-pigeon': use one of none"),
    ]:
        assert re.search(rf'id="{field}-error">{re.escape(message)}', page), field
    assert 'aria-invalid="true"' in page
    # What the editor typed is still there to correct.
    assert (
        'value="Germany"' in page
        and 'value="XX"' in page
        and 'value="ftp://example.com"' in page
        and 'value="15/01/2027"' in page
    )
    assert changes_of(app) == before


def test_a_short_notice_needs_a_justification_and_is_marked(app: Flask, editor: FlaskClient) -> None:
    change_id = draft_addition(editor, app)
    response = post(editor, ANNOUNCE, announce_form(change_id, effective_date="2027-01-20"))
    assert response.status_code == 422
    assert 'id="effective_date-error">The list\'s notice period is 30 days' in text(response)
    assert changes_of(app)[-1][2] == "draft"

    reason = "Our status page provider shuts down on 19 January."
    post(editor, ANNOUNCE, announce_form(change_id, effective_date="2027-01-20", short_notice_reason=reason))
    [upcoming] = public_upcoming(app.test_client())
    assert upcoming["short_notice"] == reason and upcoming["effective_at"] == "2027-01-20T00:00:00Z"
    assert f"Short notice:</strong> {reason}" in text(app.test_client().get("/processors"))
    assert workflow_actions(app)[-2:] == ["notice.announce", "notice.short_notice"]


def test_a_time_of_day_is_taken_as_utc(app: Flask, editor: FlaskClient) -> None:
    change_id = draft_addition(editor, app)
    post(editor, ANNOUNCE, announce_form(change_id, effective_date="2027-02-09", effective_time="13:30"))
    [upcoming] = public_upcoming(app.test_client())
    assert upcoming["effective_at"] == "2027-02-09T13:30:00Z" and upcoming["short_notice"] is None


def test_four_eyes(app: Flask, editor: FlaskClient, bob: FlaskClient) -> None:
    set_requires_approval(app)
    public = app.test_client()
    change_id = draft_addition(editor, app)
    preview = text(post(editor, ANNOUNCE, announce_form(change_id, action="preview")))
    assert "this will be sent for approval" in preview and ">Send for approval</button>" in preview

    notice_id = notice_id_of(post(editor, ANNOUNCE, announce_form(change_id)))
    notice_path = f"/admin/notices/{notice_id}"
    page = text(editor.get(notice_path))
    assert "Sent for approval: New sub-processor: Acme (United States)" in page
    assert "Announced:" not in page
    assert public_upcoming(public) == []

    # The author sees it waiting and cannot approve it, even by posting the form.
    approve_path = f"{notice_path}/approve"
    assert f'href="{approve_path}"' not in text(editor.get("/admin/"))
    own_page = text(editor.get(approve_path))
    assert "another person must approve it" in own_page and 'name="seen"' not in own_page
    seen = seen_on(bob, approve_path)
    refused = post(editor, approve_path, {"seen": seen})
    assert refused.status_code == 422
    assert "You drafted, edited or announced part of this notice" in text(refused)
    assert public_upcoming(public) == []

    # Bob reviews it: the dashboard only links to the confirmation page, which shows the notice
    # and the very email subscribers will get; a bare POST approves nothing.
    assert f'href="{approve_path}"' in text(bob.get("/admin/"))
    review = text(bob.get(approve_path))
    assert "The email subscribers will get" in review and "New sub-processor: Acme (United States)" in review
    assert post(bob, approve_path).status_code == 200
    assert public_upcoming(public) == []
    assert approve(bob, notice_path).status_code == 302
    assert [u["processor"]["name"] for u in public_upcoming(public)] == ["Acme"]
    assert "Approved and published" in text(bob.get(notice_path))
    assert workflow_actions(app, "editor@example.com") == ["change.draft", "notice.request_approval"]
    assert workflow_actions(app, "bob@example.com") == ["notice.announce"]

    # A decided notice cannot be decided again, even with what the page once showed.
    again = post(bob, approve_path, {"seen": seen})
    assert again.status_code == 409 and "there is nothing to approve" in text(again)
    assert post(bob, f"{notice_path}/reject", {"reason": "Too late."}).status_code == 409


def test_a_rejection_returns_the_changes_to_drafts(app: Flask, editor: FlaskClient, bob: FlaskClient) -> None:
    set_requires_approval(app)
    change_id = draft_addition(editor, app)
    notice_id = notice_id_of(post(editor, ANNOUNCE, announce_form(change_id)))
    reject = f"/admin/notices/{notice_id}/reject"

    missing = post(bob, reject, {"reason": "  "})
    assert missing.status_code == 422
    assert re.search(r'id="reason-error">Give the public reason for this.', text(missing))
    assert changes_of(app)[-1][2] == "pending_approval"

    assert post(bob, reject, {"reason": "The date clashes with the freeze."}).status_code == 302
    assert changes_of(app)[-1] == (change_id, "add", "draft", "Acme")
    assert public_upcoming(app.test_client()) == []
    assert workflow_actions(app, "bob@example.com") == ["notice.reject"]
    # Back among the drafts, ready to be announced again.
    assert f'value="{change_id}" id="changes-{change_id}" checked' in text(editor.get(ANNOUNCE))


def test_withdrawal(app: Flask, editor: FlaskClient) -> None:
    public = app.test_client()
    change_id = draft_addition(editor, app)
    notice_id = notice_id_of(post(editor, ANNOUNCE, announce_form(change_id)))
    assert len(public_upcoming(public)) == 1
    withdraw_path = f"/admin/notices/{notice_id}/withdraw"
    assert f'action="{withdraw_path}"' in text(editor.get(LIST))

    notice_path = f"/admin/notices/{notice_id}"
    # The list's inline form leads to a confirmation page: what is withdrawn, who is told.
    reason = "We chose another provider."
    asked = post(editor, withdraw_path, {"reason": reason})
    assert asked.status_code == 200 and "It cannot be undone" in text(asked)
    assert "New sub-processor: Acme (United States)" in text(asked) and len(public_upcoming(public)) == 1

    missing = withdraw(editor, notice_path, "")
    assert missing.status_code == 422 and "Give the public reason" in text(missing)

    assert withdraw(editor, notice_path, reason).status_code == 302
    assert public_upcoming(public) == []
    log = text(public.get("/processors/changes"))
    assert "Withdrawn announcement" in log and reason in log
    assert "New sub-processor: Acme (United States)" in log  # names what was withdrawn
    assert changes_of(app)[-1][2] == "withdrawn"
    assert workflow_actions(app)[-1] == "notice.withdraw"

    again = withdraw(editor, notice_path, reason)
    assert (
        again.status_code == 409
        and "Only an announced notice that has not taken effect can be withdrawn" in text(again)
    )


def _draft_a_link_fix(app: Flask, editor: FlaskClient) -> int:
    """Draft, through the entry form, a new website for Stripe (a correction's kind of change)."""
    edit = f"{LIST}/entries/stripe/edit"
    form = text(editor.get(edit))
    data = entry_form("Stripe", locations="IE", website="https://stripe.com/privacy")
    assert post(editor, edit, {**data, "row_version": hidden(form, "row_version")}).status_code == 302
    return int(changes_of(app)[-1][0])


def test_a_correction_is_published_at_once(app: Flask, editor: FlaskClient) -> None:
    public = app.test_client()
    change_id = _draft_a_link_fix(app, editor)

    correction = f"{LIST}/correction"
    page = text(editor.get(f"{correction}?change={change_id}"))
    assert "Publish now without notice (typos, links)" in text(editor.get(LIST))
    assert f'value="{change_id}" id="changes-{change_id}" checked' in page

    missing = post(editor, correction, {"changes": str(change_id), "reason": ""})
    assert missing.status_code == 422 and "Give the public reason" in text(missing)
    assert public.get("/processors.json").get_json()["version"] == 1

    done = post(editor, correction, {"changes": str(change_id), "reason": "Link to the privacy page."})
    assert done.status_code == 302
    assert "Published version 2 of Sub-processors as a correction" in text(editor.get(done.location))
    document = public.get("/processors.json").get_json()
    assert document["version"] == 2
    assert {p["name"]: p["website"] for p in document["processors"]}["Stripe"] == "https://stripe.com/privacy"
    log = text(public.get("/processors/changes"))
    assert "Correction, published without notice" in log and "Link to the privacy page." in log
    assert workflow_actions(app, "editor@example.com") == ["change.draft", "version.correction"]


def test_retire_and_replace_announced_together_then_the_history(
    app: Flask, editor: FlaskClient, published: Registry
) -> None:
    lst = text(editor.get(LIST))
    azure = re.search(r'action="/admin/lists/sub-processors/entries/microsoft-azure/retire">\s*'
                      r'<input type="hidden" name="csrf_token" value="[^"]+">\s*'
                      r'<input type="hidden" name="row_version" value="(\d+)">', lst)  # fmt: skip
    assert azure
    retire = post(editor, f"{LIST}/entries/microsoft-azure/retire", {"row_version": azure.group(1)})
    assert retire.status_code == 302
    replace = f"{LIST}/entries/stripe/replace"
    row_version = hidden(text(editor.get(replace)), "row_version")
    data = {**entry_form("Adyen", locations="NL", corporate_location="NL"), "row_version": row_version}
    assert post(editor, replace, data).status_code == 302
    ids = [c[0] for c in changes_of(app)[-2:]]
    assert [c[1:3] for c in changes_of(app)[-2:]] == [("retire", "draft"), ("replace", "draft")]

    preview = text(post(editor, ANNOUNCE, announce_form(*ids, action="preview")))
    assert (
        "2 changes to Sub-processors: Microsoft Azure removed; Stripe replaced by Adyen (Netherlands), "
        "effective 2027-02-15" in preview
    )
    post(editor, ANNOUNCE, announce_form(*ids))
    assert [u["action"] for u in public_upcoming(app.test_client())] == ["retire", "replace"]

    assert published.apply_due(NOW + timedelta(days=40)) == 1
    names = [p["name"] for p in app.test_client().get("/processors.json").get_json()["processors"]]
    assert names == ["Adyen"]
    history = text(editor.get(f"{LIST}/entries/stripe"))
    assert "Retired 19 February 2027" in history  # when the scheduler applied it
    assert "Replaced sub-processor: Stripe by Adyen (Netherlands)" in history and "Applied" in history


def test_entry_history_shows_before_and_after(app: Flask, editor: FlaskClient, published: Registry) -> None:
    published.announce(
        SLUG,
        [("update", "stripe", entry("Stripe", locations=["IE", "US"]))],
        effective_at=NOW + timedelta(days=31),
    )
    published.apply_due(NOW + timedelta(days=32))
    page = text(editor.get(f"{LIST}/entries/stripe"))
    assert "Changed sub-processor: Stripe (processing locations" in page
    assert "<del>Ireland</del>" in page and "<ins>Ireland, United States</ins>" in page
    assert editor.get(f"{LIST}/entries/nobody").status_code == 404


def test_editing_and_discarding_a_draft(app: Flask, editor: FlaskClient) -> None:
    change_id = draft_addition(editor, app)
    path = f"/admin/changes/{change_id}"
    page = text(editor.get(path))
    assert 'value="Acme"' in page
    data = entry_form("Acme", locations="US; CA", transfer_mechanisms=["scc"])
    bad = post(editor, path, {**data, "website": "nope", "row_version": hidden(page, "row_version")})
    assert bad.status_code == 422 and re.search(
        r'id="website-error">Enter the website as an address', text(bad)
    )

    saved = post(editor, path, {**data, "row_version": hidden(page, "row_version")})
    assert saved.status_code == 302
    assert "Saved the draft: New sub-processor: Acme (United States, Canada)" in text(
        editor.get(saved.location)
    )

    assert post(editor, f"{path}/discard").status_code == 302
    assert changes_of(app)[-1][2] == "discarded"
    again = post(editor, f"{path}/discard")
    assert again.status_code == 409 and "is discarded, not draft" in text(again)
    assert workflow_actions(app, "editor@example.com") == ["change.draft", "change.edit", "change.discard"]


def test_the_dashboard_shows_each_stage(app: Flask, editor: FlaskClient, bob: FlaskClient) -> None:
    announced = draft_addition(editor, app, "Acme")
    notice_id = notice_id_of(post(editor, ANNOUNCE, announce_form(announced)))
    set_requires_approval(app)
    pending = draft_addition(editor, app, "Pending Co")
    pending_notice = notice_id_of(post(editor, ANNOUNCE, announce_form(pending)))
    draft = draft_addition(bob, app, "Draft Co")

    page = text(bob.get("/admin/"))
    assert f'href="/admin/changes/{draft}">New sub-processor: Draft Co (United States)</a>' in page
    assert f'href="/admin/notices/{pending_notice}/approve"' in page
    assert f'action="/admin/notices/{pending_notice}/reject"' in page
    assert f'href="/admin/notices/{notice_id}">New sub-processor: Acme (United States)</a>' in page
    assert "in 35 days" in page  # 15 February 00:00 from 10 January 12:00
    assert "New sub-processor: Microsoft Azure" in page  # recently applied
    assert "Waiting for another editor" in text(editor.get("/admin/"))


def test_approval_counts_only_for_the_list_as_the_page_showed_it(
    app: Flask, editor: FlaskClient, bob: FlaskClient
) -> None:
    """The approve page shows the objection deadline the list's settings give: if an admin changes
    them meanwhile, the approval of what was shown is refused."""
    set_requires_approval(app)
    change_id = draft_addition(editor, app)
    notice_path = f"/admin/notices/{notice_id_of(post(editor, ANNOUNCE, announce_form(change_id)))}"
    seen = seen_on(bob, f"{notice_path}/approve")
    with app.app_context():
        from registry.extensions import db
        from registry.lists import services

        register_list = services.get_list(db.session, SLUG)
        assert register_list is not None
        register_list.objection_closes_days_before = 20
        db.session.commit()
    stale = post(bob, f"{notice_path}/approve", {"seen": seen})
    assert stale.status_code == 409 and "changed since this page was shown" in text(stale)
    assert approve(bob, notice_path).status_code == 302


def test_the_withdraw_page_of_what_cannot_be_withdrawn_offers_nothing(
    app: Flask, editor: FlaskClient
) -> None:
    set_requires_approval(app)
    change_id = draft_addition(editor, app)
    notice_path = f"/admin/notices/{notice_id_of(post(editor, ANNOUNCE, announce_form(change_id)))}"
    page = editor.get(f"{notice_path}/withdraw")
    assert page.status_code == 200 and "Only an announced notice that has not taken effect" in text(page)
    assert 'name="confirmed"' not in text(page)


def _row_counts(app: Flask) -> dict[str, int]:
    from sqlalchemy import func, select

    from registry.extensions import db

    with app.app_context():
        return {
            table.name: db.session.scalar(select(func.count()).select_from(table)) or 0
            for table in db.metadata.sorted_tables
        }


def test_a_correction_is_previewed_before_it_is_published(app: Flask, editor: FlaskClient) -> None:
    public = app.test_client()
    change_id = _draft_a_link_fix(app, editor)
    correction = f"{LIST}/correction"
    before = text(public.get("/processors/changes")), _row_counts(app), audit_actions(app)

    reason = "Link to the privacy page."
    shown = post(editor, correction, {"changes": str(change_id), "reason": reason, "action": "preview"})
    assert shown.status_code == 200
    page = text(shown)
    preview = page[
        page.index('id="preview-heading"') : page.index("</section>", page.index('id="preview-heading"'))
    ]
    # The before and after of the changed field, and the email as subscribers will read it.
    assert re.search(
        r"<th scope=\"row\">Website</th><td><del>.*?</del></td><td><ins>.*?https://stripe.com/privacy",
        preview,
        re.S,
    )
    assert "The email subscribers will get" in preview and reason in preview
    assert re.search(r'<span class="label">Subject</span> [^<]*Stripe', preview)
    assert (
        'name="action" value="publish"' in page
        and f'value="{change_id}" id="changes-{change_id}" checked' in page
    )
    # Nothing was written: no version, no notice, no email queued, no audit record.
    assert (text(public.get("/processors/changes")), _row_counts(app), audit_actions(app)) == before
    assert public.get("/processors.json").get_json()["version"] == 1
    assert changes_of(app)[-1][2] == "draft"

    done = post(editor, correction, {"changes": str(change_id), "reason": reason, "action": "publish"})
    assert done.status_code == 302
    assert public.get("/processors.json").get_json()["version"] == 2


def test_a_correction_awaiting_approval_is_previewed_too(app: Flask, editor: FlaskClient) -> None:
    set_requires_approval(app)
    change_id = _draft_a_link_fix(app, editor)
    before = _row_counts(app)
    shown = post(
        editor, f"{LIST}/correction", {"changes": str(change_id), "reason": "A link.", "action": "preview"}
    )
    assert shown.status_code == 200, text(shown)
    page = text(shown)
    assert "this will be sent for approval" in page and "Send the correction for approval" in page
    assert "The email subscribers will get" in page
    assert _row_counts(app) == before
