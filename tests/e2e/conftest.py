"""Browser tests: serve the app as `make run` does (`python -m ui.server`) on a free port, drive Debian's Chromium.

Playwright cannot download its own browser here (DESIGN.md section 4), so the tests launch the
system `chromium`. Without it they are skipped with the reason shown, except in CI (CI=true),
where a missing browser is a failure: no test is skipped silently there.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support import serve_app

# The machine may be busy (2 cores): give waiting assertions time instead of Playwright's 5 s.
expect.set_options(timeout=45_000)
#: Per-test limit of the browser tests (pytest-timeout; pytest.ini has 300 s): the first one waits for the
#: server's warm start (up to 240 s) and Chromium, and a page's first run loads its model.
E2E_TIMEOUT_S = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_S))

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "e2e" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
]


@pytest.fixture(scope="session")
def app_url():
    """Base URL of a server shared by the whole test session."""
    with serve_app() as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Debian's package) driven by Playwright."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        message = "Chromium is not installed (apt-get install chromium); .ci/run installs it."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab at a laptop-sized viewport."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    context.close()


PROJECTOR = {"width": 1280, "height": 720}  # what a classroom projector shows


@pytest.fixture
def projector(browser):
    """A fresh browser tab at projector size, 1280×720."""
    context = browser.new_context(viewport=PROJECTOR, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    context.close()


def upload_photo(page, path: Path, page_title: str) -> None:
    """Switch the page's image picker to Upload, upload the photo at `path`, and wait until the page shows it."""
    page.get_by_role("radiogroup", name="Image").get_by_role("radio", name="Upload").click()
    file_input = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    file_input.wait_for(state="attached")
    file_input.set_input_files(str(path))
    expect(page.get_by_text(f"your upload “{path.name}”").first).to_be_visible(timeout=90_000)
    wait_for_app(page, page_title)


def chart_text(text: str) -> re.Pattern:
    """`text` as a chart draws it, perhaps wrapped (`presenter.figure`): each line of an SVG text is a tspan of its
    own, so the element's text has no space where a line broke."""
    return re.compile(r"\s*".join(map(re.escape, text.split(" "))))


def wait_until_idle(page) -> None:
    """Wait until Streamlit has finished running the script (its 'Running…' status widget is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000)
    page.wait_for_timeout(300)


def wait_for_app(page, heading: str) -> None:
    """Wait until the page's title `heading` is shown and the script has finished running."""
    page.get_by_role("heading", name=heading).first.wait_for(state="visible", timeout=90_000)
    wait_until_idle(page)


def screenshot(page, name: str) -> Path:
    """Wait for the script to finish, then save a full-page screenshot to tests/e2e/screenshots/<name>.png and return its path."""
    wait_until_idle(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def projector_screenshots(page, name: str) -> tuple[Path, Path]:
    """Two screenshots at 1280 px wide: what the projector shows first (`<name>-1280x720.png`), and the whole
    page at that width (`<name>-1280-full.png`; the app scrolls inside itself, so the window is made as tall
    as the content). The viewport is 1280×720 again afterwards."""
    wait_until_idle(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    first = SHOTS / f"{name}-1280x720.png"
    page.screenshot(path=str(first))
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 720")
    page.set_viewport_size({"width": PROJECTOR["width"], "height": min(int(height) + 50, 12_000)})
    page.mouse.move(0, 0)  # no tooltip over the page
    page.wait_for_timeout(2500)  # charts redraw at the new size
    full = SHOTS / f"{name}-1280-full.png"
    page.screenshot(path=str(full), full_page=True)
    page.set_viewport_size(PROJECTOR)
    return first, full
