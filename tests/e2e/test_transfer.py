"""The Transfer-learning page in Chromium: demo data, a 2-epoch run, live curves and a confusion matrix."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import chart_text, screenshot, wait_for_app
from tests.support import png

pytestmark = pytest.mark.e2e


def test_train_two_epochs_on_demo_data(page, app_url):
    page.goto(f"{app_url}/transfer?tl_src=Demo%3A+digits&tl_ndig=40&tl_bb=lenet5&tl_strat=From+scratch&tl_ep=2&tl_bs=16")
    wait_for_app(page, "Transfer learning")
    expect(page.get_by_text("scikit-learn's real handwritten")).to_be_visible()
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Finished after 2 epochs")).to_be_visible(timeout=120_000)
    expect(page.get_by_text(chart_text("confusion matrix (validation)"))).to_be_visible(timeout=60_000)
    expect(page.locator(".js-plotly-plot").get_by_text(chart_text("accuracy")).first).to_be_visible()
    expect(page.get_by_text("Misclassified validation images")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    page.set_viewport_size({"width": 1400, "height": 2600})  # the app scrolls inside itself: show the results
    page.get_by_text("2. Model and training").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    screenshot(page, "transfer")

    # Explain a mistake: the Attributions page opens at its top with that image (issue 21: it opened at the bottom).
    page.set_viewport_size({"width": 1280, "height": 720})
    page.get_by_text("What did it look at?").click()
    explain = page.get_by_role("button", name="Explain").first
    explain.scroll_into_view_if_needed()
    explain.click()
    wait_for_app(page, "Attributions")
    expect(page.get_by_text(re.compile(r"validation image \d+ of run #\d+")).first).to_be_visible(timeout=90_000)
    page.wait_for_timeout(1000)
    assert page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop") == 0
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_a_run_keeps_training_across_a_page_switch(page, app_url):
    page.goto(f"{app_url}/transfer?tl_src=Demo%3A+digits&tl_ndig=60&tl_bb=lenet5&tl_strat=From+scratch&tl_ep=25&tl_bs=8")
    wait_for_app(page, "Transfer learning")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Run #")).to_be_visible(timeout=60_000)
    # Switch pages through the navigation (same session), then come back.
    page.get_by_role("link", name=re.compile("zoo", re.I)).first.click()
    wait_for_app(page, "Model zoo")
    page.get_by_role("link", name=re.compile("transfer", re.I)).first.click()
    wait_for_app(page, "Transfer learning")
    expect(page.get_by_text("Run #")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Finished after 25 epochs")).to_be_visible(timeout=180_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_own_classes_from_uploads_with_a_bad_file_skipped(page, app_url):
    page.goto(f"{app_url}/transfer?tl_src=Your+classes&tl_bb=lenet5&tl_strat=From+scratch&tl_ep=2&tl_bs=4")
    wait_for_app(page, "Transfer learning")
    inputs = page.locator('[class*="st-key-tl_up_"] input[type=file]')
    expect(inputs).to_have_count(2)
    reds = [{"name": f"red{i}.png", "mimeType": "image/png", "buffer": png((200 + i, 0, 0))} for i in range(3)]
    blues = [{"name": f"blue{i}.png", "mimeType": "image/png", "buffer": png((0, 0, 200 + i))} for i in range(3)]
    inputs.nth(0).set_input_files(reds + [{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    expect(page.get_by_text("Skipped notes.txt")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("3 images").first).to_be_visible()
    inputs.nth(1).set_input_files(blues)
    expect(page.get_by_text("class 1: 3 · class 2: 3")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Finished after 2 epochs")).to_be_visible(timeout=120_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "transfer-own-classes")


def test_zip_upload_train_download_and_load_the_model_back(page, app_url, tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(4):
            zf.writestr(f"set/red/{i}.png", png((200 + i, 0, 0)))
            zf.writestr(f"set/blue/{i}.png", png((0, 0, 200 + i)))
        zf.writestr("set/blue/broken.jpg", b"\xff\xd8\xff not really a jpeg")
    page.goto(f"{app_url}/transfer?tl_src=Zip+of+folders&tl_bb=lenet5&tl_strat=From+scratch&tl_ep=1&tl_bs=4")
    wait_for_app(page, "Transfer learning")
    page.locator('[class*="st-key-tl_zipup"] input[type=file]').set_input_files(
        {"name": "colours.zip", "mimeType": "application/zip", "buffer": buf.getvalue()})
    expect(page.get_by_text("8 images in 2 classes")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("1 file skipped")).to_be_visible()
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Finished after 1 epochs")).to_be_visible(timeout=120_000)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download model").click()
    path = tmp_path / "model.zip"
    info.value.save_as(path)
    page.get_by_text("Load a model downloaded from this page").click()
    page.locator('[class*="st-key-tl_modelup"] input[type=file]').set_input_files(str(path))
    expect(page.get_by_text("Loaded: choose “Loaded from file” above")).to_be_visible(timeout=60_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_train_the_network_built_on_the_architectures_page(page, app_url):
    page.goto(f"{app_url}/architectures?ar_tab=Build+your+own")
    wait_for_app(page, "Architectures")
    expect(page.get_by_text("the Transfer-learning page can train it")).to_be_visible(timeout=60_000)
    # Same session: go to the Transfer-learning page through the navigation.
    page.get_by_role("link", name=re.compile("transfer", re.I)).first.click()
    wait_for_app(page, "Transfer learning")
    page.locator(".st-key-tl_src").get_by_text("Demo: digits").click()
    expect(page.get_by_text("scikit-learn's real handwritten")).to_be_visible(timeout=60_000)
    page.locator(".st-key-tl_bb").click()
    page.get_by_role("option", name="your network (from the Architectures page)").click()
    expect(page.get_by_text("Images are resized to 28×28 grayscale")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text(re.compile(r"Run #\d+ custom network · From scratch"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Finished after 10 epochs")).to_be_visible(timeout=180_000)
    expect(page.get_by_text("Misclassified validation images")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(chart_text("confusion matrix (validation)"))).to_be_visible(timeout=60_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.mouse.move(0, 0)  # no tooltip over the page
    page.get_by_text("2. Model and training").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    screenshot(page, "transfer-custom-network")
