"""Fixtures for the browser tests: the real app, served by gunicorn on a demo database, and
Debian's chromium driven through Playwright.

The server runs in its own process, exactly as deployed (migrations, the ``demo`` command, a WSGI
server), so these tests see what a reader sees: HTML, the stylesheet, the security headers. One
server and one browser serve the whole session; every test gets a fresh context and page, so no
cookie, history or cache leaks from one test into the next.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    sync_playwright,
)

from tests.commands import ROOT, flask_command

# Debian's chromium, never a browser downloaded by a test tool (see bin/ensure-chromium).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous enough for a slow CI machine, short enough that a hung page fails the test quickly.
ACTION_TIMEOUT_MS = 10_000
SERVER_START_SECONDS = 30.0


# --- the browser ------------------------------------------------------------------------------


def _chromium_executable() -> str | None:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The chromium to drive; skip (or fail when CI requires the browser) when there is none."""
    executable = _chromium_executable()
    if executable is None:
        reason = (
            f"chromium is not installed ({CHROMIUM} missing and no chromium on PATH); "
            "install it with: sudo apt-get install chromium (or run bin/ensure-chromium)"
        )
        if os.environ.get("REGISTRY_REQUIRE_BROWSER"):
            pytest.fail(reason + " (REGISTRY_REQUIRE_BROWSER is set)")
        pytest.skip(reason)
    return executable


@pytest.fixture(scope="session")
def playwright_driver(chromium_executable: str) -> Iterator[Playwright]:
    """Playwright's driver, started once, and only when there is a browser for it to drive."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright, chromium_executable: str) -> Iterator[Browser]:
    """One headless chromium for the session (starting one takes most of a second)."""
    browser = playwright_driver.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


# --- the server -------------------------------------------------------------------------------


@dataclass
class LiveServer:
    """A running instance of the app; ``url`` is its base, e.g. ``http://127.0.0.1:41234``."""

    url: str
    instance_path: Path
    log_path: Path
    database_path: Path
    app: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def flask(self, command: str) -> None:
        """Run a ``flask`` command on this server's database, as an operator (or cron) would."""
        with self.log_path.open("a") as log:
            _run_command(self.app, command, self.env, log)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's output, to explain a failure."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _server_env(database_url: str) -> dict[str, str]:
    """The environment of every server process: only our settings, none from the caller's shell.

    Inherited ``FLASK_*`` variables (a developer's ``FLASK_SCHEDULER_IN_PROCESS``, another
    database) would make the tests depend on who runs them, so they are dropped.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    env.update(
        {
            "FLASK_SECRET_KEY": "browser-tests-secret",
            "FLASK_SQLALCHEMY_DATABASE_URI": database_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _run_command(app: str, command: str, env: dict[str, str], log: IO[str]) -> None:
    """Run one ``flask`` command as an operator would, failing with its output when it fails."""
    result = flask_command(app, command, env)
    log.write(f"$ flask {command}\n{result.stdout}\n")
    log.flush()
    if result.returncode != 0:
        pytest.fail(f"flask {command} failed with exit code {result.returncode}:\n{result.stdout}")


def _listening_socket() -> socket.socket:
    """A socket already listening on a free port, handed to gunicorn so no other process can
    take the port between our choosing it and gunicorn binding it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def _wait_until_answering(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    """Poll the list page until it answers 200; fail early, with the log, if gunicorn exits."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/processors", timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as error:
            last_error = repr(error)
        time.sleep(0.1)
    pytest.fail(
        f"the server did not answer within {SERVER_START_SECONDS:.0f} s ({last_error}):\n{server.log_tail()}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def _serve(folder: Path, server_settings: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """Make a demo database in ``folder`` and serve it with gunicorn until the block ends.

    ``server_settings`` (``FLASK_*`` variables) reach the gunicorn process only, not the
    ``init-db`` and ``demo`` commands: a scheduler started by a short-lived command would be a
    second one, racing the server's.
    """
    instance_path = folder / "instance"
    database_path = folder / "registry.sqlite"
    app = f"registry:create_app(instance_path={str(instance_path)!r})"
    env = _server_env(f"sqlite:///{database_path}")
    log_path = folder / "server.log"

    with log_path.open("w") as log:
        _run_command(app, "init-db", env, log)
        _run_command(app, "demo", env, log)

        with _listening_socket() as sock:
            host, port = sock.getsockname()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    f"--bind=fd://{sock.fileno()}",
                    # Threads keep idle connections (chromium opens some ahead of need) from
                    # blocking the only worker, as a sync worker would.
                    "--worker-class=gthread",
                    "--workers=1",
                    "--threads=8",
                    "--graceful-timeout=5",
                    "--no-control-socket",
                    "--log-level=warning",
                    app,
                ],
                cwd=ROOT,
                env={**env, **(server_settings or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(),),
            )
        # Our copy of the socket is closed; gunicorn holds its own.
        server = LiveServer(f"http://{host}:{port}", instance_path, log_path, database_path, app, env)
        try:
            _wait_until_answering(server, process)
            yield server
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on a fresh demo database, served by gunicorn on 127.0.0.1 for the whole session.

    The database is made the way an operator makes it (``flask init-db`` then ``flask demo``),
    so the pages show the demo's history, with dates relative to today. The instance folder is a
    temporary one, given through ``create_app(instance_path=...)``, so a developer's
    ``instance/config.py`` (mail, scheduler, database) never reaches the tests.
    """
    with _serve(tmp_path_factory.mktemp("live-server")) as server:
        yield server


# The in-process scheduler, ticking every second: an announced change is applied about a second
# after its effective date instead of up to a minute (the default) after it.
SCHEDULER_SETTINGS = {"FLASK_SCHEDULER_IN_PROCESS": "true", "FLASK_APPLY_CHANGES_EVERY_SECONDS": "1"}


@pytest.fixture(scope="module")
def scheduled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Like ``live_server``, on a database of its own, with the real scheduler running inside.

    A module's tests that change the list (draft, announce, let a change take effect) get their
    own server, so the list the other browser tests read stays the demo's as loaded.
    """
    with _serve(tmp_path_factory.mktemp("scheduled-server"), SCHEDULER_SETTINGS) as server:
        yield server


# --- a page per test --------------------------------------------------------------------------


@dataclass
class PageProblems:
    """What a reader would not see but a broken page shows: console errors and failed loads."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_request_failed)

    def _on_console(self, message: ConsoleMessage) -> None:
        # A Content-Security-Policy violation (an inline style, say) is reported here.
        if message.type != "error":
            return
        source = message.location.get("url", "")
        self.console_errors.append(f"{message.text} ({source})" if source else message.text)

    def _on_request_failed(self, request: Request) -> None:
        # A load cut short because the page navigated on (the favicon, typically, when a test
        # moves to the next page at once) is the browser's doing, not a broken resource.
        if request.failure == "net::ERR_ABORTED":
            return
        self.failed_requests.append(f"failed {request.url}: {request.failure}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed_requests.append(f"{response.status} {response.url}")


def _new_context(browser: Browser, server: LiveServer, *, java_script_enabled: bool = True) -> BrowserContext:
    context = browser.new_context(base_url=server.url, java_script_enabled=java_script_enabled)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    return context


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies, no cache) whose relative URLs go to the live server."""
    context = _new_context(browser, live_server)
    yield context
    context.close()


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(context: BrowserContext, page_problems: PageProblems) -> Page:
    """A new tab in a fresh context; console errors and failed requests land in ``page_problems``."""
    page = context.new_page()
    page_problems.watch(page)
    return page


@pytest.fixture
def no_js_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A tab with JavaScript switched off, as some readers (and some corporate proxies) have it."""
    context = _new_context(browser, live_server, java_script_enabled=False)
    yield context.new_page()
    context.close()


@pytest.fixture
def scheduled_page(
    browser: Browser, scheduled_server: LiveServer, page_problems: PageProblems
) -> Iterator[Page]:
    """A tab in a fresh context on ``scheduled_server``; problems land in ``page_problems``."""
    context = _new_context(browser, scheduled_server)
    page = context.new_page()
    page_problems.watch(page)
    yield page
    context.close()
