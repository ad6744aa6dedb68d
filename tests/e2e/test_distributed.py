"""Two Streamlit servers share one Dask scheduler (two `dask worker` processes), in Chromium.

Each server runs a training job on the cluster; a link to one server's run opens it on the
other (a student moved to another replica); a worker killed mid-run gives the student one
sentence and keeps the images they uploaded.
"""

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from explorer.runtime import cluster, worker
from tests.e2e.conftest import chart_text, screenshot, wait_for_app
from tests.support import serve_app
from tests.support import png

pytestmark = pytest.mark.e2e
DIGITS = "transfer?tl_src=Demo%3A+digits&tl_ndig=40&tl_bb=lenet5&tl_strat=From+scratch&tl_ep=2&tl_bs=16"


@pytest.fixture(scope="module")
def servers(dask_cluster):
    """Two web replicas, as behind a reverse proxy, both pointing at the test cluster's scheduler."""
    env = {cluster.SCHEDULER_ENV: dask_cluster.address}
    with serve_app(env) as first, serve_app(env) as second:
        yield first, second


def _tab(browser):
    tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    tab.set_default_timeout(60_000)
    return tab


def _run_id(page) -> str:
    return parse_qs(urlparse(page.url).query)["run"][0]


def test_two_servers_each_train_on_the_shared_cluster_and_a_link_moves_a_run_across(browser, servers, dask_cluster):
    tabs = []
    for url in servers:
        tab = _tab(browser)
        tab.goto(f"{url}/{DIGITS}")
        wait_for_app(tab, "Transfer learning")
        tab.get_by_role("button", name="Start training").click()
        tabs.append(tab)
    address = re.escape(dask_cluster.address)
    where = re.compile(rf"Runs on the Dask cluster at {address}, on worker tcp://127\.0\.0\.1:\d+")
    for tab in tabs:
        expect(tab.get_by_text("Finished after 2 epochs")).to_be_visible(timeout=180_000)
        expect(tab.get_by_text(where).first).to_be_visible()
        expect(tab.locator('[data-testid="stException"]')).to_have_count(0)
    ids = [_run_id(tab) for tab in tabs]
    with dask_cluster.client() as client:  # both runs are the cluster's, whichever server started them
        registry = worker.registry(client)
        assert ids[0] != ids[1] and all(registry[i]["s"] == "done" for i in ids)
    # The first server's run, opened on the second server from its link.
    moved = _tab(browser)
    moved.goto(f"{servers[1]}/{DIGITS}&run={ids[0]}")
    wait_for_app(moved, "Transfer learning")
    expect(moved.get_by_text("Finished after 2 epochs")).to_be_visible(timeout=60_000)
    expect(moved.get_by_text(chart_text("confusion matrix (validation)"))).to_be_visible(timeout=60_000)
    expect(moved.get_by_text("The validation images stay with the session that started this run.")).to_be_visible()
    expect(moved.locator('[data-testid="stException"]')).to_have_count(0)
    assert _run_id(moved) == ids[0]
    moved.set_viewport_size({"width": 1400, "height": 2600})  # the app scrolls inside itself: show the run
    moved.get_by_text("2. Model and training").scroll_into_view_if_needed()
    screenshot(moved, "transfer-run-from-another-server")


def test_a_worker_dying_mid_run_says_start_it_again_and_keeps_the_uploads(browser, servers, dask_cluster):
    tab = _tab(browser)
    tab.goto(f"{servers[0]}/transfer?tl_src=Your+classes&tl_bb=efficientnet_lite0&tl_strat=Fine-tune+everything"
             "&tl_ep=200&tl_bs=4")
    wait_for_app(tab, "Transfer learning")
    inputs = tab.locator('[class*="st-key-tl_up_"] input[type=file]')
    expect(inputs).to_have_count(2)
    for i, colour in enumerate([(200, 0, 0), (0, 0, 200)]):
        inputs.nth(i).set_input_files([{"name": f"{i}-{k}.png", "mimeType": "image/png",
                                        "buffer": png(tuple(c + k for c in colour))} for k in range(4)])
    expect(tab.get_by_text("class 1: 4 · class 2: 4")).to_be_visible(timeout=60_000)
    tab.get_by_role("button", name="Start training").click()
    expect(tab.get_by_text(re.compile(r"epoch 1/200, batch"))).to_be_visible(timeout=180_000)
    with dask_cluster.client() as client:
        dask_cluster.kill_worker_running(client, f"train-{_run_id(tab)}")
        expect(tab.get_by_text(worker.WORKER_DIED)).to_be_visible(timeout=60_000)
        expect(tab.get_by_text("class 1: 4 · class 2: 4")).to_be_visible()  # nothing uploaded is lost
        expect(tab.get_by_role("button", name="Start training")).to_be_enabled()
        expect(tab.locator('[data-testid="stException"]')).to_have_count(0)
        screenshot(tab, "transfer-worker-died")
        client.wait_for_workers(2, timeout=120)  # the nanny restarts it
