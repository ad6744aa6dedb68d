"""User text is shown literally: class folders named like HTML never become markup, links or scripts.

Plotly renders a subset of HTML in tick labels, titles and hover text (DESIGN.md section 4), so a zip
whose folders are `<b>bold`, `<i>ital<br>ic` and `<a href=javascript:alert(2)>clickme` would turn into
bold and italic two-line labels and an SVG link. Every figure escapes user text (explorer.figures.safe_text).
"""

import io
import zipfile

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import chart_text, screenshot, wait_for_app
from tests.support import png

pytestmark = pytest.mark.e2e

NAMES = ["<b>bold", "<i>ital<br>ic", "<a href=javascript:alert(2)>clickme"]


def test_html_class_names_train_and_show_verbatim(page, app_url):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for c, name in enumerate(NAMES):
            for i in range(4):
                zf.writestr(f"{name}/{i}.png", png((60 * c + 10 * i, 200 - 60 * c, 90)))
    page.goto(f"{app_url}/transfer?tl_src=Zip+of+folders&tl_bb=lenet5&tl_strat=From+scratch&tl_ep=1&tl_bs=4")
    wait_for_app(page, "Transfer learning")
    page.locator('[class*="st-key-tl_zipup"] input[type=file]').set_input_files(
        {"name": "<i>classes</i>.zip", "mimeType": "application/zip", "buffer": buf.getvalue()})
    expect(page.get_by_text("12 images in 3 classes")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Finished after 1 epochs")).to_be_visible(timeout=120_000)
    expect(page.get_by_text(chart_text("confusion matrix (validation)"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("prediction for")).to_be_visible(timeout=60_000)

    charts = page.locator(".js-plotly-plot")
    assert charts.locator("a").count() == 0  # no link was made from a name
    ticks = charts.locator(".xtick text, .ytick text")
    labels = ticks.all_text_contents()
    for name in NAMES:
        assert labels.count(name) >= 2, (name, labels)  # confusion matrix x and y, verbatim on one line
    styled = charts.locator(".xtick tspan, .ytick tspan")
    assert styled.count() == 0  # no bold, italic or line break was rendered from a name
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    page.wait_for_timeout(500)
    assert dialogs == []  # nothing ran
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.mouse.move(0, 0)  # no tooltip over the page
    page.get_by_text("One model in detail").scroll_into_view_if_needed()
    screenshot(page, "transfer-html-class-names")
