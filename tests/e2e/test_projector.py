"""Issue 14 at projector size (1280×720): the lecture calculations, the charts and tables, the runs.

Each test saves `<name>-1280x720.png` (the first screen) and `<name>-1280-full.png` (the whole page at
1280 px wide) in tests/e2e/screenshots/ to look at.
"""

import io
import json
import re
import zipfile

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import projector_screenshots, screenshot, wait_for_app, wait_until_idle
from tests.e2e.layout import BUTTONS, CHART_FONTS, OVERFLOWING, TRUNCATED_LABELS, overlaps

pytestmark = pytest.mark.e2e


def _no_exception(page) -> None:
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_two_runs_and_the_download_is_the_newest_runs_model(projector, app_url, tmp_path):
    page = projector
    page.goto(f"{app_url}/transfer?tl_src=Demo%3A+digits&tl_ndig=20&tl_bb=lenet5&tl_strat=From+scratch&tl_ep=2"
              "&tl_bs=32")
    wait_for_app(page, "Transfer learning")
    ids = []
    for _ in range(2):
        page.get_by_role("button", name="Start training").click()
        new = "".join(rf"(?!{i}\b)" for i in ids)  # a run number not seen yet
        label = page.get_by_text(re.compile(rf"^Run #{new}\d+ lenet5 · From scratch")).first
        expect(label).to_be_visible(timeout=60_000)
        ids.append(int(re.search(r"#(\d+)", label.inner_text()).group(1)))
        expect(page.get_by_text(f"Showing run #{ids[-1]}, the newest finished run")).to_be_visible(timeout=180_000)
    assert ids[1] > ids[0]
    expect(page.get_by_text(f"Showing run #{ids[0]}")).to_have_count(0)  # the detail view moved on
    with page.expect_download() as info:
        page.get_by_role("button", name=f"Download model of run #{ids[1]}").click()
    download = info.value
    assert download.suggested_filename == f"cnn-explorer-run{ids[1]}-lenet5.zip"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    meta = json.loads(zipfile.ZipFile(io.BytesIO(path.read_bytes())).read("config.json"))
    assert meta["run"]["number"] == ids[1] and meta["backbone"] == "lenet5"
    assert re.search(rf"run={meta['run']['id']}\b", page.url)  # the id in the page's URL
    _no_exception(page)
    projector_screenshots(page, "transfer-two-runs")


def test_architectures_comparison_tables_and_calculators(projector, app_url):
    page = projector
    page.goto(f"{app_url}/architectures?ar_tab=Compare+models")
    wait_for_app(page, "Architectures")
    expect(page.get_by_text("Top-1 accuracy, compute and size")).to_be_visible(timeout=90_000)
    ticks = page.locator(".js-plotly-plot .xtick text").all_text_contents()
    assert "0.5" in ticks and "3" not in ticks  # 1-2-5 ticks, no minor-tick digits
    _no_exception(page)
    projector_screenshots(page, "architectures-compare")
    page.get_by_role("tab", name="Lecture tables").click()
    expect(page.get_by_text("149.5 M multiply-adds").first).to_be_visible(timeout=90_000)
    expect(page.locator('[data-testid="stDataFrame"] canvas').first).to_be_visible(timeout=60_000)
    _no_exception(page)
    projector_screenshots(page, "architectures-lecture-tables")
    page.get_by_role("tab", name="Calculators").click()
    expect(page.get_by_text("43,713,331,200").first).to_be_visible(timeout=90_000)
    _no_exception(page)
    projector_screenshots(page, "architectures-calculators")
    page.goto(f"{app_url}/architectures?ar_model=vgg16")
    wait_for_app(page, "Architectures")
    expect(page.get_by_text("Training memory at batch size 32")).to_be_visible(timeout=90_000)
    projector_screenshots(page, "architectures-one-model")


def test_ten_filters_on_the_conv_page(projector, app_url):
    page = projector
    page.goto(f"{app_url}/conv?ca_h=32&ca_w=32&ca_k=5&ca_pad=2&ca_cin=3&ca_cout=10")
    wait_for_app(page, "Convolution arithmetic")
    expect(page.get_by_text("10 × 32 × 32")).to_be_visible()
    expect(page.locator("[data-testid=stMetricValue]").filter(has_text=re.compile(r"^760$"))).to_be_visible()
    _no_exception(page)
    projector_screenshots(page, "conv-ten-filters")


def test_an_untrained_model_is_marked_and_makes_no_top5(projector, app_url):
    page = projector
    page.goto(f"{app_url}/zoo?model=resnet18")
    wait_for_app(page, "Model zoo")
    expect(page.locator(".st-key-model input")).to_have_value("resnet18 (untrained here)")
    expect(page.get_by_text("ResNet-18 is untrained here, so it makes no prediction.")).to_be_visible()
    expect(page.get_by_text("top-5")).to_have_count(0)
    assert "model=resnet18" in page.url and "untrained" not in page.url  # the URL keeps the plain name
    _no_exception(page)
    projector_screenshots(page, "zoo-untrained")
    page.goto(f"{app_url}/filters?fm_model=vgg16")
    wait_for_app(page, "Filters and feature maps")
    expect(page.get_by_text("VGG-16 is untrained here, so it makes no prediction.")).to_be_visible(timeout=90_000)
    _no_exception(page)
    projector_screenshots(page, "filters-untrained")


# Issue 21: presenter mode (?present=1) on every page. Page address -> (title, the main figure's locator).
TRANSFER_RUN = "tl_src=Demo%3A+digits&tl_ndig=20&tl_bb=lenet5&tl_strat=From+scratch&tl_ep=1&tl_bs=32"
PRESENTED = {
    "": ("CNN Explorer", '[data-testid="stPageLink"]'),
    "conv?ca_h=7&ca_w=7&": ("Convolution arithmetic", '[data-testid="stPlotlyChart"]'),
    "filters?": ("Filters and feature maps", '[data-testid="stPlotlyChart"]'),
    "receptive-fields?": ("Receptive fields", ".st-key-rf_growth"),
    "architectures?ar_model=resnet18&": ("Architectures", ".st-key-ar_bars"),
    f"transfer?{TRANSFER_RUN}&": ("Transfer learning", '[class*="st-key-tl_curves_"]'),
    "attributions?": ("Attributions", '[class*="st-key-at_fig_"]'),
    "zoo?": ("Model zoo", ".st-key-top5"),
}


def open_main(page, url: str, address: str) -> object:
    """Open `url` (the page of `PRESENTED[address]`), start a training run on /transfer, and return the main figure
    once drawn."""
    title, selector = PRESENTED[address]
    page.goto(url)
    wait_for_app(page, title)
    if address.startswith("transfer"):
        page.get_by_role("button", name="Start training").click()
    main = page.locator(selector).first
    main.wait_for(state="visible", timeout=180_000)
    if "stPageLink" not in selector:
        main.locator(".main-svg").first.wait_for(state="attached", timeout=120_000)
    wait_until_idle(page)
    return main


def _open_presented(page, app_url: str, address: str) -> object:
    """`open_main` with ?present=1."""
    return open_main(page, f"{app_url}/{address}{'' if address.endswith(('?', '&')) else '?'}present=1", address)


@pytest.mark.parametrize("address", list(PRESENTED), ids=lambda a: a.split("?")[0] or "home")
def test_presenter_mode_fits_the_main_picture_on_the_first_screen(projector, app_url, address):
    """At 1280×720 with ?present=1: the sidebar collapsed, the intro folded, the main figure wholly on the first
    screen, no text wider than its box or label cut, and no chart text under 18 px (read from the SVG)."""
    page = projector
    main = _open_presented(page, app_url, address)
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_attribute("data-collapsed") == "true"
    expect(page.get_by_text("About this page")).to_be_visible()
    page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    box = main.bounding_box()
    top, bottom = box["y"], box["y"] + box["height"]
    name = "presenter-" + (address.split("?")[0] or "home")
    projector_screenshots(page, name)
    assert 0 <= top and bottom <= 720, f"the main figure spans {top:.0f}-{bottom:.0f} px"  # the whole of it
    texts = page.evaluate(OVERFLOWING)
    assert len(texts) >= 3  # the title and the page's own text were checked
    assert [what for over, what in texts if over] == []
    assert page.evaluate(TRUNCATED_LABELS) == []
    fonts = page.evaluate(CHART_FONTS)
    if address:  # every page but home draws charts
        assert fonts, "no chart text found"
        assert min(size for size, _ in fonts) >= 18, sorted(fonts)[:5]
    _no_exception(page)


@pytest.mark.parametrize("address", list(PRESENTED), ids=lambda a: a.split("?")[0] or "home")
def test_presenter_mode_at_150_percent_zoom_has_no_overlapping_buttons(browser, app_url, address):
    """At 150% zoom (a 1280×720 screen shows 853×480 CSS px at 1.5 device pixels each) no two buttons overlap."""
    context = browser.new_context(viewport={"width": 853, "height": 480}, device_scale_factor=1.5)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        _open_presented(page, app_url, address)
        boxes = page.evaluate(BUTTONS)
        assert boxes  # at least the sidebar's opener
        found = overlaps(boxes)
        screenshot(page, "presenter-150-" + (address.split("?")[0] or "home"))
        assert not found, found[:3]
    finally:
        context.close()
