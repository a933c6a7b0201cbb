"""No tracking: no image (a tracking pixel is an image), and no script, style or font loaded from
another site, in any email we send or any public page we serve.

Checked on what readers get: every template in templates/email rendered (with whatever context it
asks for), the emails actually sent in a subscriber's history, and every public page.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from jinja2 import ChainableUndefined

from registry.extensions import db
from registry.lists.services import get_notice
from registry.notifications.emails import render_email
from tests.conftest import csrf_token
from tests.privacy.conftest import ADA, History, deliver
from tests.smtp import SmtpServer

ROOT = Path(__file__).resolve().parents[2]
EMAIL_TEMPLATES = ROOT / "templates" / "email"
OUR_HOSTS = {"", "registry.example", "localhost"}
# Elements that load something by themselves (not links a reader chooses to follow).
LOADING = {"script": "src", "iframe": "src", "frame": "src", "embed": "src", "object": "data",
           "audio": "src", "video": "src", "source": "src", "track": "src", "input": "src"}  # fmt: skip
IMAGES = {"img", "picture", "image", "svg"}


class Trackers(HTMLParser):
    """Everything in a page that would load an image, or a script, style or font from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in IMAGES:
            self.found.append(f"<{tag}>")
        if tag in LOADING and _third_party(values.get(LOADING[tag], "")):
            self.found.append(f"<{tag} {values[LOADING[tag]]}>")
        if (
            tag == "link"
            and "alternate" not in values.get("rel", "")
            and _third_party(values.get("href", ""))
        ):
            self.found.append(f"<link {values['href']}>")
        if "background" in values:
            self.found.append(f"<{tag} background>")
        self._check_css(values.get("style", ""))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._check_css(data)

    def _check_css(self, css: str) -> None:
        lowered = css.lower()
        if "url(" in lowered or "@import" in lowered or "@font-face" in lowered:
            self.found.append(f"CSS loading something: {css[:80]}")


class Anything(ChainableUndefined):
    """Whatever a template asks for: empty, with every attribute, and formatted as nothing."""

    def __format__(self, spec: str) -> str:
        return ""


def _third_party(url: str) -> bool:
    parts = urlsplit(url.strip())
    return bool(url.strip()) and (
        parts.scheme not in ("", "http", "https") or (parts.hostname or "") not in OUR_HOSTS
    )


def trackers(html: str) -> list[str]:
    parser = Trackers()
    parser.feed(html)
    return parser.found


def test_the_checker_finds_what_it_should() -> None:
    assert trackers('<p>Hi<img src="https://t.example/p.gif" width=1 height=1></p>') == ["<img>"]
    assert trackers('<script src="https://cdn.example/x.js"></script>') == [
        "<script https://cdn.example/x.js>"
    ]
    assert trackers('<link rel="stylesheet" href="https://fonts.googleapis.com/css">') != []
    assert trackers('<div style="background: url(https://t.example/p.gif)">') != []
    assert trackers("<style>@import url('https://fonts.example/f.css');</style>") != []
    assert (
        trackers('<link rel="stylesheet" href="/static/style.css"><a href="https://elsewhere.example/">x</a>')
        == []
    )


def test_every_email_template_renders_without_trackers(app: Flask) -> None:
    folders = sorted(path.name for path in EMAIL_TEMPLATES.iterdir() if path.is_dir())
    assert {"confirmation", "manage_link", "notice", "address_change"} <= set(folders)
    with app.test_request_context():
        # Any variable a template asks for exists (empty), so every branch renders as far as it can.
        original = app.jinja_env.undefined
        app.jinja_env.undefined = Anything
        try:
            for name in folders:
                email = render_email(name, manage_url="https://registry.example/subscription/t")
                assert trackers(email.html) == [], name
                assert "<img" not in email.text.lower(), name
        finally:
            app.jinja_env.undefined = original


def test_the_emails_sent_carry_no_trackers(
    app: Flask, client: FlaskClient, history: History, smtp: SmtpServer
) -> None:
    # Beyond the history's confirmation, notices and receipt: a manage link and an address change.
    client.post("/subscription", data={"csrf_token": csrf_token(client, "/subscription"), "email": ADA})
    manage = f"/subscription/{history.fresh_token}"
    client.post(
        f"{manage}/address", data={"csrf_token": csrf_token(client, manage), "email": "new@example.org"}
    )
    deliver(app)
    messages = smtp.mailbox.messages
    kinds = {message["Message-ID"].split(".")[2].split("@")[0] for message in messages}
    assert kinds >= {"confirmation", "notice", "objection_receipt", "manage_link"}
    for message in messages:
        html = message.get_body(("html",))
        assert html is not None
        assert trackers(html.get_content()) == [], message["Subject"]


def test_public_pages_load_nothing_from_elsewhere(app: Flask, client: FlaskClient, history: History) -> None:
    with app.app_context():
        notice = get_notice(db.session, history.notice_ids[0])
        assert notice is not None
        object_path = f"/notices/{notice.uuid}/object"
    paths = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or set())
        and not rule.arguments
        and not rule.rule.startswith(("/admin", "/api", "/static"))
    }
    paths |= {
        f"/subscription/{history.fresh_token}",
        f"/subscription/{history.fresh_token}/delete",
        f"/unsubscribe/{history.unsubscribe_token}",
        object_path,
        "/no-such-page",
    }
    checked = 0
    for path in sorted(paths):
        response = client.get(path)
        if response.mimetype != "text/html":
            continue
        assert trackers(response.get_data(as_text=True)) == [], path
        checked += 1
    assert checked >= 8
    css = (ROOT / "static" / "style.css").read_text()
    assert "@import" not in css and "@font-face" not in css and "url(http" not in css.replace(" ", "")
