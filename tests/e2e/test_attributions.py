"""Attributions page in a real browser: upload a photo, see Grad-CAM at once and Occlusion after one click."""

import io
import time

import pytest
from PIL import Image
from playwright.sync_api import expect
from skimage import data

from tests.e2e.conftest import SHOTS, chart_text, screenshot, upload_photo, wait_for_app, wait_until_idle

pytestmark = pytest.mark.e2e

# Grad-CAM and Occlusion only (repeated keys: a multiselect in the URL), as an instructor's link would ask.
QUERY = "at_methods=Grad-CAM&at_methods=Occlusion+%28Zeiler+%26+Fergus%29"


def test_upload_a_photo_and_see_grad_cam_and_occlusion(page, app_url, tmp_path):
    photo = tmp_path / "my_coffee.jpg"
    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, format="JPEG", quality=90)
    photo.write_bytes(buffer.getvalue())

    page.set_viewport_size({"width": 1400, "height": 3000})
    start = time.perf_counter()
    page.goto(f"{app_url}/attributions?{QUERY}")
    wait_for_app(page, "Attributions")
    plots = page.locator(".js-plotly-plot")
    expect(plots.get_by_text(chart_text("Grad-CAM · features.8")).first).to_be_visible(timeout=90_000)
    print(f"\nAttributions page settled in {time.perf_counter() - start:.1f} s (fresh server: model load included)")

    upload_photo(page, photo, "Attributions")
    expect(plots.get_by_text(chart_text("espresso")).first).to_be_visible(timeout=90_000)
    expect(plots.get_by_text(chart_text("Grad-CAM · features.8")).first).to_be_visible()
    expect(page.get_by_text("169 forward passes, no backward pass").first).to_be_visible()

    start = time.perf_counter()
    page.get_by_role("button", name="Compute Occlusion (Zeiler & Fergus)").click()
    expect(plots.get_by_text(chart_text("Occlusion (Zeiler & Fergus)")).first).to_be_visible(timeout=180_000)
    wait_until_idle(page)
    print(f"Occlusion on screen {time.perf_counter() - start:.1f} s after the click")
    expect(page.get_by_text("Sign: red = for the class, blue = against it").first).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    screenshot(page, "attributions")

    # What a projector shows: 1280×720, scrolled to the maps.
    page.set_viewport_size({"width": 1280, "height": 720})
    page.wait_for_timeout(1500)  # the charts redraw at the new width
    page.evaluate("document.querySelectorAll('.js-plotly-plot')[1].scrollIntoView({block: 'center'})")
    page.wait_for_timeout(1000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "attributions_1280x720.png"))
