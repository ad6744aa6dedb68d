"""Two web replicas behind Caddy, started as `make run REPLICAS=2` starts them (`python -m ui.replicas`), in Chromium.

- New browsers are spread over the replicas, and each one stays on its own: a photo uploaded on /filters
  reaches the replica that holds the session (the other one refuses it: HTTP 400), and the feature maps
  and `/media` files come back from that replica, as does the websocket.
- A training run started in a browser on one replica opens by its `?run=` link in a browser on the other.
- SIGKILL one replica: the other replica's browser goes on with its session; the killed one's browser
  reconnects to the surviving replica and works again; the launcher starts the dead replica again.

Which replica served what: Caddy names it in every response (`ui.replicas.proxy.REPLICA_HEADER`), the
websocket's upgrade included, which the tab reads through the Chrome DevTools Protocol.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple
from urllib.parse import parse_qs, urlparse

import psutil
import pytest
from PIL import Image
from playwright.sync_api import expect
from skimage import data

from tests.e2e.conftest import ROOT, chart_text, screenshot, upload_photo, wait_for_app
from tests.support import free_port
from ui.replicas.proxy import COOKIE, REPLICA_HEADER

pytestmark = pytest.mark.e2e
DIGITS = "transfer?tl_src=Demo%3A+digits&tl_ndig=40&tl_bb=lenet5&tl_strat=From+scratch&tl_ep=2&tl_bs=16"
START_S = 600  # two warm starts and the worker's torch import share the machine's cores


@dataclass
class Launched:
    """`python -m ui.replicas` running: the proxy's URL and the launcher's process."""

    url: str
    proc: subprocess.Popen

    def web(self) -> dict[str, psutil.Process]:
        """{replica address "127.0.0.1:port": its web process} (a restarted replica has a new process)."""
        out = {}
        for child in psutil.Process(self.proc.pid).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                cmd = child.cmdline()
                if "ui.server" in cmd:
                    out[f"127.0.0.1:{cmd[cmd.index('--server.port') + 1]}"] = child
        return out


def _healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok"
    except OSError:
        return False


@pytest.fixture(scope="module")
def replicas(browser) -> Iterator[Launched]:
    """The launcher with two replicas on a free port (after `browser`: no Chromium, no launch)."""
    port = free_port()
    log_dir = ROOT / ".pytest_cache"
    log_dir.mkdir(exist_ok=True)
    log_path = log_dir / f"e2e-replicas-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ui.replicas", "--replicas", "2", "--port", str(port),
                                 "--address", "127.0.0.1"], cwd=ROOT, env=dict(os.environ, CNN_EXPLORER_OFFLINE="1"),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        launched = Launched(f"http://127.0.0.1:{port}", proc)
        try:
            deadline = time.time() + START_S
            while not _healthy(launched.url):  # Caddy starts last: its answer means everything is up
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"the launcher did not serve within {START_S} s (status {proc.poll()}); see {log_path}")
                time.sleep(1)
            yield launched
        finally:
            children = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
            proc.terminate()
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            for child in children:  # nothing outlives the test, whatever the launcher did
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()


class Response(NamedTuple):
    method: str
    url: str
    status: int
    replica: str | None


class Student:
    """A tab in a new browser context (a new student), and the replica of everything it received through Caddy."""

    def __init__(self, browser) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.responses: list[Response] = []
        self.sockets: list[str | None] = []  # the replica of each websocket the tab opened, in order
        self.page.on("response", lambda r: self.responses.append(
            Response(r.request.method, r.url, r.status, r.headers.get(REPLICA_HEADER.lower()))))
        devtools = self.context.new_cdp_session(self.page)
        devtools.on("Network.webSocketHandshakeResponseReceived", lambda event: self.sockets.append(
            {k.lower(): v for k, v in event["response"]["headers"].items()}.get(REPLICA_HEADER.lower())))
        devtools.send("Network.enable")

    def open(self, url: str, heading: str) -> None:
        self.page.goto(url)
        wait_for_app(self.page, heading)

    @property
    def replica(self) -> str:
        """The replica of the tab's current websocket (its session)."""
        assert self.sockets, "no websocket yet"
        return self.sockets[-1]

    def go_to_zoo(self) -> None:
        """A click in the navigation: a script run on the session's replica, over its websocket."""
        self.page.get_by_role("link", name="Model zoo").first.click()
        wait_for_app(self.page, "Model zoo")
        expect(self.page.locator('[data-testid="stException"]')).to_have_count(0)


@pytest.fixture
def students(browser) -> Iterator[Callable[[], Student]]:
    """Make new students; their browser contexts close after the test (their websockets with them)."""
    made: list[Student] = []

    def new() -> Student:
        made.append(Student(browser))
        return made[-1]

    yield new
    for student in made:
        student.context.close()


def test_browsers_are_spread_and_an_upload_and_its_media_stay_on_the_sessions_replica(replicas, students, tmp_path):
    first, second = students(), students()
    first.open(f"{replicas.url}/filters", "Filters and feature maps")
    second.open(f"{replicas.url}/filters", "Filters and feature maps")
    assert {first.replica, second.replica} == set(replicas.web())  # a new browser goes to the least busy replica
    assert COOKIE in {c["name"] for c in second.context.cookies()}

    page = second.page
    photo = tmp_path / "my_coffee.jpg"
    Image.fromarray(data.coffee()).save(photo, format="JPEG", quality=90)
    upload_photo(page, photo, "Filters and feature maps")
    plots = page.locator(".js-plotly-plot")
    expect(plots.get_by_text(chart_text("espresso")).first).to_be_visible(timeout=90_000)
    expect(plots.get_by_text(chart_text("features.3: 32 of 40 channels")).first).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)

    uploads = [r for r in second.responses if r.method == "PUT" and "/_stcore/upload_file/" in r.url]
    media = [r for r in second.responses if urlparse(r.url).path.startswith("/media/")]
    assert len(uploads) == 1 and media, second.responses
    assert all(r.status < 300 and r.replica == second.replica for r in [*uploads, *media]), [*uploads, *media]
    assert second.sockets == [second.replica]  # one websocket, never moved
    # Without stickiness the upload would fail: the other replica does not know this session.
    other = first.replica
    xsrf = next(c["value"] for c in second.context.cookies() if c["name"] == "_streamlit_xsrf")
    refused = second.context.request.put(
        f"http://{other}{urlparse(uploads[0].url).path}", headers={"X-Xsrftoken": xsrf},
        multipart={"file": {"name": "my_coffee.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8"}})
    assert refused.status == 400, refused.text()
    screenshot(page, "replicas-filters-upload")


def test_a_run_started_on_one_replica_opens_by_its_link_on_the_other(replicas, students):
    trainer, other = students(), students()
    trainer.open(f"{replicas.url}/{DIGITS}", "Transfer learning")
    other.open(f"{replicas.url}/", "CNN Explorer")
    assert other.replica != trainer.replica
    trainer.page.get_by_role("button", name="Start training").click()
    expect(trainer.page.get_by_text("Finished after 2 epochs")).to_be_visible(timeout=180_000)
    expect(trainer.page.get_by_text(re.compile(r"Runs on the Dask cluster at tcp://127\.0\.0\.1:\d+")).first
           ).to_be_visible()
    run = parse_qs(urlparse(trainer.page.url).query)["run"][0]

    other.open(f"{replicas.url}/{DIGITS}&run={run}", "Transfer learning")
    assert other.sockets[-1] != trainer.replica  # still on its own replica
    page = other.page
    expect(page.get_by_text("Finished after 2 epochs")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(chart_text("confusion matrix (validation)"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("The validation images stay with the session that started this run.")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    assert parse_qs(urlparse(page.url).query)["run"] == [run]
    page.set_viewport_size({"width": 1400, "height": 2600})  # the app scrolls inside itself: show the run
    page.get_by_text("2. Model and training").scroll_into_view_if_needed()
    screenshot(page, "replicas-run-from-the-other-replica")


def test_killing_a_replica_moves_only_its_browsers_and_the_launcher_starts_it_again(replicas, students):
    moved, kept = students(), students()
    moved.open(f"{replicas.url}/conv", "Convolution arithmetic")
    kept.open(f"{replicas.url}/conv", "Convolution arithmetic")
    assert moved.replica != kept.replica
    dead = moved.replica
    killed = replicas.web()[dead]
    before = len(moved.responses)
    killed.send_signal(signal.SIGKILL)

    kept.go_to_zoo()  # the other replica's session goes on, on its own websocket
    assert kept.sockets == [kept.replica]

    deadline = time.time() + 120
    while len(moved.sockets) < 2:  # Streamlit's client reconnects; Caddy sends it to the surviving replica
        assert time.time() < deadline, "the killed replica's browser did not reconnect within 120 s"
        moved.page.wait_for_timeout(500)  # (not time.sleep: Playwright delivers events while it waits)
    assert moved.sockets[1:] == [kept.replica] * (len(moved.sockets) - 1)
    wait_for_app(moved.page, "Convolution arithmetic")
    moved.go_to_zoo()
    served = [r.replica for r in moved.responses[before:] if r.replica]
    assert served and set(served) == {kept.replica}
    screenshot(moved.page, "replicas-reconnected")

    deadline = time.time() + START_S  # the launcher starts it again, on the same port
    while not (dead in replicas.web() and replicas.web()[dead].pid != killed.pid and _healthy(f"http://{dead}")):
        assert time.time() < deadline, f"the killed replica {dead} was not started again within {START_S} s"
        time.sleep(2)
    assert _healthy(replicas.url)
