"""The convolution-arithmetic page in a real browser: the animation steps in the browser, no server rerun."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import SHOTS, projector_screenshots, screenshot, wait_for_app, wait_until_idle

pytestmark = pytest.mark.e2e

LECTURE = ("ca_x=typed&ca_w_mode=typed&ca_xv=3+3+2+1+0+%2F+0+0+1+3+1+%2F+3+1+2+2+3+%2F+2+0+0+2+2+%2F+2+0+0+0+1"
           "&ca_wv=0+1+2+%2F+2+2+0+%2F+0+1+2")


def _open(page, url):
    page.goto(url)
    wait_for_app(page, "Convolution arithmetic")


def _shows(page, text: str) -> None:
    """Wait until one of the chart's SVG texts contains `text` (Streamlit draws plotly in a shadow root,
    which Playwright's locators pierce)."""
    expect(page.locator(".js-plotly-plot text").filter(has_text=text).first).to_be_attached(timeout=60_000)


def _chart_text(page) -> str:
    return " | ".join(page.locator(".js-plotly-plot text").all_text_contents())


def test_lecture_example_steps_in_the_browser(page, app_url):
    _open(page, f"{app_url}/conv?{LECTURE}")
    chart = page.locator(".js-plotly-plot").first
    expect(page.get_by_text("Page not found")).to_have_count(0)
    _shows(page, "output (1, 1): 3·0 + 3·1 + 2·2")
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    runs = page.evaluate("() => performance.getEntriesByType('resource').length")
    chart.get_by_text("step ▶", exact=True).click()
    chart.get_by_text("step ▶", exact=True).click()
    _shows(page, "output (1, 3): 2·0 + 1·1")
    chart.get_by_text("◀ step", exact=True).click()
    _shows(page, "output (1, 2): 3·0 + 2·1")
    assert page.evaluate("() => performance.getEntriesByType('resource').length") == runs  # nothing fetched
    screenshot(page, "conv_arithmetic")


def test_transposed_convolution_labels_input_and_output(page, app_url):
    _open(page, f"{app_url}/conv?ca_op=transposed+convolution&ca_h=3&ca_w=3&ca_stride=2&ca_pad=1&ca_cin=2&ca_cout=2")
    chart = page.locator(".js-plotly-plot").first
    _shows(page, "OUTPUT map 1 (5×5)")
    _shows(page, "INPUT channel 2 (3×3), stretched")
    expect(page.get_by_text("2 × 5 × 5")).to_be_visible()
    chart.get_by_text("▶ play", exact=True).click()
    page.wait_for_timeout(1500)
    chart.get_by_text("■ pause", exact=True).click()
    assert "output (1, 1)" not in _chart_text(page)  # it moved on, in the browser
    screenshot(page, "conv_arithmetic_transposed")
    page.get_by_role("heading", name="Formulas, with the numbers of this setting").scroll_into_view_if_needed()
    expect(page.get_by_text("torch.nn.ConvTranspose2d(in_channels=2, out_channels=2, kernel_size=3")).to_be_visible()
    screenshot(page, "conv_arithmetic_formulas")
    _shows(page, "partial sum, channel 2")
    multi = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    multi.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    multi.screenshot(path=str(SHOTS / "conv_arithmetic_multichannel.png"))



def test_the_largest_setting_draws_and_shows_values_on_hover(page, app_url):
    """A 32×32 transposed convolution with S=4, K=7, D=3 (the sliders' maximum): cells too small for numbers
    show their values on hover, and the play buttons leave the two-line titles readable."""
    _open(page, f"{app_url}/conv?ca_op=transposed+convolution&ca_h=32&ca_w=32&ca_k=7&ca_stride=4&ca_dil=3"
                "&ca_opad=3&ca_cin=3&ca_cout=4")
    expect(page.get_by_text("At this size the cells are too small for their numbers")).to_be_visible()
    _shows(page, "OUTPUT map 1 (146×146)")
    assert page.locator(".js-plotly-plot").first.locator("text").count() < 300  # no text per cell
    chart = page.locator(".js-plotly-plot").first
    grid = chart.locator(".heatmaplayer image").first  # input channel 1
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(box["x"] + box["width"] / 2 + 2, box["y"] + box["height"] / 2 + 2)
    expect(chart.locator(".hoverlayer text").first).to_be_attached(timeout=10_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    page.mouse.move(0, 0)
    screenshot(page, "conv_arithmetic_largest")


def test_guess_first_hides_the_numbers_then_reveals_them_with_feedback(page, app_url):
    """Issue 21: a teacher's link with ?guess=1: the class guesses, presses Reveal, and reads how close it was."""
    _open(page, f"{app_url}/conv?ca_h=7&ca_w=7&guess=1")
    expect(page.get_by_text("Guess first.", exact=False).first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("1 × 5 × 5")).to_have_count(0)  # the output size is hidden
    boxes = page.locator(".st-key-guess_box_ca input")  # O_h, O_w, parameters, multiply-adds
    expect(boxes).to_have_count(4)
    for i, value in enumerate(("6", "5", "10", "200")):
        box = boxes.nth(i)
        box.fill(value)
        box.press("Enter")
        expect(box).to_have_value(value)
    wait_until_idle(page)
    page.get_by_role("button", name="Reveal").click()
    expect(page.get_by_text("1 × 5 × 5")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("you said 6, it is 5: 1 too high (20% off)")).to_be_visible()
    expect(page.get_by_text("you said 200, it is 225: 25 too low (11% off)")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    assert "guess=1" in page.url
    screenshot(page, "conv_arithmetic_guess_revealed")


def test_presenter_mode_fits_the_picture_and_numbers_on_a_projector_screen(projector, app_url):
    """Issue 21: /conv?present=1 at 1280×720: the sidebar collapsed, the numbers and the sliding window on the first
    screen with the geometry settings beside it, and no chart text under 18 px (read from the SVG)."""
    page = projector
    _open(page, f"{app_url}/conv?ca_h=7&ca_w=7&present=1")
    _shows(page, "output (1, 1)")
    expect(page.get_by_text("1 × 5 × 5")).to_be_visible()
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_attribute("data-collapsed") == "true" and sidebar.bounding_box()["x"] < 0
    expect(page.get_by_text("Watch the window slide")).to_be_hidden()  # folded into "About this page"
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator(".main-svg").first.wait_for(state="attached")
    box, size = chart.bounding_box(), page.locator('[data-testid="stMetricValue"]').first.bounding_box()
    assert box["y"] >= 0 and size["y"] + size["height"] <= 720
    assert box["y"] + 200 <= 720  # the picture starts on the first screen, well above its bottom edge
    stride = page.get_by_text("Stride S", exact=True)
    expect(stride).to_be_visible()  # beside the picture, not in the collapsed sidebar
    assert stride.bounding_box()["x"] < box["x"]
    sizes = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot text')]
        .filter(t => t.textContent.trim() && getComputedStyle(t).fill !== 'rgba(0, 0, 0, 0)'
                     && t.getBoundingClientRect().width > 0)
        .map(t => parseFloat(getComputedStyle(t).fontSize))""")
    assert len(sizes) > 50 and min(sizes) >= 18, sorted(sizes)[:5]  # both charts: the window and the channel sums
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    projector_screenshots(page, "conv_arithmetic_presenter")


def test_presenter_mode_at_150_percent_zoom_has_no_overlapping_buttons(browser, app_url):
    """Issue 21: at 150% zoom (a 1280×720 screen shows 853×480 CSS px) the animation's buttons must not overlap."""
    context = browser.new_context(viewport={"width": 853, "height": 480}, device_scale_factor=1.5)
    page = context.new_page()
    try:
        _open(page, f"{app_url}/conv?ca_h=7&ca_w=7&present=1")
        _shows(page, "output (1, 1)")
        boxes = page.evaluate("""() => [...document.querySelectorAll(
                'button, [role="button"], .updatemenu-button, .slider-grip')]
            .map(b => b.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0)
            .map(r => [r.left, r.top, r.right, r.bottom])""")
        assert len(boxes) >= 6  # start, play, pause, ◀ step, step ▶, speed, ...
        overlaps = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                    if min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1
                    and not (a[0] <= b[0] and a[1] <= b[1] and a[2] >= b[2] and a[3] >= b[3])  # nested
                    and not (b[0] <= a[0] and b[1] <= a[1] and b[2] >= a[2] and b[3] >= a[3])]
        screenshot(page, "conv_arithmetic_presenter_150")
        assert not overlaps, overlaps[:3]
    finally:
        context.close()
