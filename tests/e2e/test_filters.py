"""Filters and feature maps page in a real browser: upload a photo, see the top-5 and the feature maps."""

import io

import pytest
from PIL import Image
from playwright.sync_api import expect
from skimage import data

from tests.e2e.conftest import chart_text, screenshot, upload_photo, wait_for_app

pytestmark = pytest.mark.e2e


def test_upload_a_photo_and_see_predictions_and_feature_maps(page, app_url, tmp_path):
    photo = tmp_path / "my_coffee.jpg"
    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, format="JPEG", quality=90)
    photo.write_bytes(buffer.getvalue())

    page.set_viewport_size({"width": 1400, "height": 5200})  # the whole page in one screenshot
    # Enter through the router, as a student does from the home page.
    page.goto(app_url)
    wait_for_app(page, "CNN Explorer")
    page.get_by_role("link", name="Filters and feature maps").first.click()
    wait_for_app(page, "Filters and feature maps")
    expect(page).to_have_url(f"{app_url}/filters")
    upload_photo(page, photo, "Filters and feature maps")
    plots = page.locator(".js-plotly-plot")
    expect(plots.get_by_text(chart_text("espresso")).first).to_be_visible(timeout=90_000)
    expect(plots.get_by_text(chart_text("top-5 on your upload")).first).to_be_visible()
    expect(plots.get_by_text(chart_text("features.3: 32 of 40 channels")).first).to_be_visible()
    expect(plots.get_by_text(chart_text("3×3×3×32")).first).to_be_visible()  # "shape K×K×3×C_out = 3×3×3×32", wrapped
    expect(page.get_by_text("ReLU: rectified feature map").first).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    screenshot(page, "filters")
