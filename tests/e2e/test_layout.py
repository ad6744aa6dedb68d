"""Issue 21, layout: every page in its normal view at 1280×720, 1400×900 and 150% zoom (a 1280×720 screen at
1.5 device pixels per CSS pixel): no text wider than its box, no two buttons overlapping, no chart text past
its chart's edge. Screenshots: tests/e2e/screenshots/layout-<page>-<size>.png."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot, wait_until_idle
from tests.e2e.layout import BUTTONS, CHART_TEXT_OUTSIDE, OVERFLOWING, TRUNCATED_LABELS, overlaps
from tests.e2e.test_projector import PRESENTED, open_main

pytestmark = pytest.mark.e2e

SIZES = {"1280x720": ({"width": 1280, "height": 720}, 1.0), "1400x900": ({"width": 1400, "height": 900}, 1.0),
         "150pct": ({"width": 853, "height": 480}, 1.5)}


@pytest.mark.parametrize("address", list(PRESENTED), ids=lambda a: a.split("?")[0] or "home")
def test_nothing_is_cut_off_or_overlapping_at_projector_laptop_and_zoomed_sizes(browser, app_url, address):
    name = address.split("?")[0] or "home"
    problems = {}
    for size, (viewport, scale) in SIZES.items():
        context = browser.new_context(viewport=viewport, device_scale_factor=scale)
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            open_main(page, f"{app_url}/{address}", address)
            page.wait_for_timeout(1000)  # charts settle at the window's width
            texts = [what for over, what in page.evaluate(OVERFLOWING) if over]
            found = {"text wider than its box": texts, "labels cut": page.evaluate(TRUNCATED_LABELS),
                     "overlapping buttons": overlaps(page.evaluate(BUTTONS))[:3],
                     "chart text past the chart's edge": sorted(set(page.evaluate(CHART_TEXT_OUTSIDE)))}
            problems[size] = {what: items for what, items in found.items() if items}
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)
            wait_until_idle(page)
            screenshot(page, f"layout-{name}-{size}")
        finally:
            context.close()
    assert all(not p for p in problems.values()), problems
