"""Receptive-fields page in a real browser: upload a photo, click a unit on the layer's map, see its box."""

import io
import re
import time

import pytest
from PIL import Image
from playwright.sync_api import expect
from skimage import data

from tests.e2e.conftest import SHOTS, chart_text, projector_screenshots, screenshot, upload_photo, wait_for_app, wait_until_idle

pytestmark = pytest.mark.e2e

HEADING = "Receptive fields"


def _click_unit(page, chart, row: int, col: int) -> None:
    """Click the centre of unit (row, col) of a heat-map chart, at the pixel plotly puts it."""
    chart.scroll_into_view_if_needed()
    x, y = chart.evaluate(
        """(div, [row, col]) => {
             const l = div._fullLayout, box = div.getBoundingClientRect();
             return [box.left + l._size.l + l.xaxis.l2p(col), box.top + l._size.t + l.yaxis.l2p(row)];
           }""", [row, col])
    page.mouse.click(x, y)


def test_upload_pick_a_unit_and_see_its_box(page, app_url, tmp_path):
    photo = tmp_path / "my_rocket.jpg"
    buffer = io.BytesIO()
    Image.fromarray(data.rocket()).save(buffer, format="JPEG", quality=90)
    photo.write_bytes(buffer.getvalue())

    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(app_url)
    wait_for_app(page, "CNN Explorer")
    page.get_by_role("link", name=HEADING).first.click()
    wait_for_app(page, HEADING)
    # The page writes the chosen unit into the address (a copied link keeps the box).
    expect(page).to_have_url(re.compile(re.escape(f"{app_url}/receptive-fields") + r"(\?|$)"))
    upload_photo(page, photo, HEADING)

    plots = page.locator(".js-plotly-plot")
    expect(plots.get_by_text(chart_text("features.3, unit (14, 14): 67×67 px")).first).to_be_visible(timeout=90_000)
    expect(plots.get_by_text(chart_text("on your upload “my_rocket.jpg”")).first).to_be_visible()
    expect(page.get_by_text("31 px lower and further right").first).to_be_visible()

    # Click unit (2, 25) of features.3's 28×28 map: the box moves to the top right and reaches into the padding.
    chart = plots.filter(has_text=chart_text("click a unit")).first
    started = time.perf_counter()
    _click_unit(page, chart, 2, 25)
    expect(plots.get_by_text(chart_text("features.3, unit (2, 25): 67×67 px")).first).to_be_visible(timeout=60_000)
    wait_until_idle(page)
    print(f"click → box redrawn in the browser: {time.perf_counter() - started:.2f} s")
    expect(page.get_by_text("sees rows -10…56 and columns 174…240").first).to_be_visible()
    expect(page.get_by_text("of it in the zero padding").first).to_be_visible()
    assert "rf_row=2" in page.url and "rf_col=25" in page.url
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    # A second click, now that the address holds rf_row and rf_col, moves the unit again (callback beats URL).
    _click_unit(page, chart, 20, 3)
    expect(plots.get_by_text(chart_text("features.3, unit (20, 3): 67×67 px")).first).to_be_visible(timeout=60_000)
    wait_until_idle(page)
    _click_unit(page, chart, 2, 25)
    expect(plots.get_by_text(chart_text("features.3, unit (2, 25): 67×67 px")).first).to_be_visible(timeout=60_000)
    wait_until_idle(page)
    page.get_by_role("heading", name="2 · One unit's field on your photo").scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "receptive_fields_unit.png"))
    page.set_viewport_size({"width": 1400, "height": 3700})
    screenshot(page, "receptive_fields")


def test_first_screen_at_projector_size(projector, app_url):
    page = projector
    started = time.perf_counter()
    page.goto(f"{app_url}/receptive-fields?rf_model=resnet50&rf_layer=layer4&rf_row=0&rf_col=0")
    wait_for_app(page, HEADING)
    expect(page.locator(".js-plotly-plot").get_by_text(chart_text("Receptive field against depth")).first).to_be_visible(
        timeout=90_000)
    print(f"ResNet-50 page settled in the browser after {time.perf_counter() - started:.2f} s")
    expect(page.get_by_text("layer4 would see 483 px").first).to_be_visible()
    expect(page.locator(".st-key-rf_model input")).to_have_value("resnet50 (untrained here)")
    expect(page.get_by_text("a 427×427 px box").first).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    projector_screenshots(page, "receptive_fields")


def test_effective_field_runs_in_the_background_with_progress_and_stop(page, app_url):
    page.set_viewport_size({"width": 1400, "height": 2400})
    # ResNet-50 (random weights here), 12 images at 320 px: long enough to see its progress and stop it.
    page.goto(f"{app_url}/receptive-fields?rf_model=resnet50&rf_size=320&rf_layer=layer4&rf_erf=true&rf_nimg=12")
    wait_for_app(page, HEADING)
    expect(page.get_by_text("random weights: back-propagating from the centre unit").first).to_be_visible(
        timeout=90_000)  # the progress fragment redraws itself while the task runs
    stop = page.get_by_role("button", name="Stop")
    stop.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "receptive_fields_erf_progress.png"))
    stop.click()
    expect(page.get_by_text("Effective receptive field of layer4 cancelled after").first).to_be_visible(
        timeout=60_000)
    expect(page.get_by_role("button", name="Compute it again")).to_be_visible()
    expect(page.locator('[data-testid="stProgress"]')).to_have_count(0)
    assert "rf_erf=true" in page.url

    # A quick field: started from the address, followed by the fragment, then drawn by a rerun of the page.
    page.goto(f"{app_url}/receptive-fields?rf_layer=features.2&rf_erf=true&rf_nimg=1")
    wait_for_app(page, HEADING)
    expect(page.get_by_text("Training made the square").first).to_be_visible(timeout=90_000)
    plots = page.locator(".js-plotly-plot")
    expect(plots.get_by_text(chart_text("trained weights: 90% in")).first).to_be_visible()
    expect(plots.get_by_text(chart_text("random weights: 90% in")).first).to_be_visible()
    expect(page.locator('[data-testid="stProgress"]')).to_have_count(0)  # it stopped polling
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
