"""The Architectures page in a real browser: per-layer charts, the comparison, and the network builder."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import chart_text, screenshot, wait_for_app

pytestmark = pytest.mark.e2e


def _settle(page):
    """Let the data grids finish drawing before a screenshot."""
    expect(page.locator('[data-testid="stDataFrame"] canvas').first).to_be_visible(timeout=60_000)
    page.wait_for_timeout(2000)


def test_vgg16_layers_table_and_charts(page, app_url):
    page.goto(f"{app_url}/architectures?ar_model=vgg16")
    wait_for_app(page, "Architectures")
    expect(page.get_by_text("138,357,544").first).to_be_visible(timeout=90_000)
    expect(page.get_by_text("FLOPs = 2 × MACs").first).to_be_visible(timeout=90_000)
    expect(page.locator(".js-plotly-plot").first.get_by_text(chart_text("activation memory"))).to_be_visible(timeout=90_000)
    expect(page.get_by_text("Training memory at batch size 32")).to_be_visible(timeout=90_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    _settle(page)
    screenshot(page, "architectures")
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    screenshot(page, "architectures_charts")
    page.locator(".js-plotly-plot").nth(1).scroll_into_view_if_needed()
    screenshot(page, "architectures_training_memory")


def test_comparison_bubbles_and_ratios(page, app_url):
    page.goto(f"{app_url}/architectures?ar_tab=Compare+models")
    wait_for_app(page, "Architectures")
    expect(page.get_by_text("Top-1 accuracy, compute and size")).to_be_visible(timeout=90_000)
    expect(page.get_by_text("lecture: 19.4×")).to_be_visible(timeout=90_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "architectures_compare")
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    screenshot(page, "architectures_bubbles")


def test_builder_shows_shapes_and_code(page, app_url):
    page.goto(f"{app_url}/architectures?ar_tab=Build+your+own")
    wait_for_app(page, "Architectures")
    expect(page.get_by_text("(64, 5, 5) → (1600,)")).to_be_visible(timeout=90_000)
    expect(page.get_by_text("431,754").first).to_be_visible(timeout=90_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "architectures_builder")


def test_lecture_tables_and_calculators(page, app_url):
    page.goto(f"{app_url}/architectures?ar_tab=Lecture+tables")
    wait_for_app(page, "Architectures")
    expect(page.get_by_text("149.5 M multiply-adds").first).to_be_visible(timeout=90_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    _settle(page)
    screenshot(page, "architectures_lecture")
    page.get_by_role("tab", name="Calculators").click()
    expect(page.get_by_text("921,601,000").first).to_be_visible(timeout=90_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    _settle(page)
    screenshot(page, "architectures_calculators")
