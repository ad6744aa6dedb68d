"""How long a shared link takes to settle in headless Chromium, server and drawing included.

"Settled" is the moment of the last change to the page: a MutationObserver installed before the
page loads records the time of every DOM change; once the script has finished, every Plotly chart
is drawn and nothing has changed for 1.5 s, the time of the last change (from the start of
navigation) is the settle time. Each URL is opened in a fresh tab, three times; the median is shown.

Usage:
    .venv/bin/python bench/browser_settle.py                 # the conv page's settings, largest included
    .venv/bin/python bench/browser_settle.py --url http://127.0.0.1:8501 "filters" "architectures?ar_model=resnet152"

Target (issue 10): every conv setting within the sliders' ranges settles in <= 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appserver import Server  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"]

#: name -> query of the conv page: the default, the lecture's cases and the largest settings the sliders allow.
CONV_CASES = {
    "default (5×5, K=3)": "",
    "lecture example": "ca_preset=Lecture+example+%285%C3%975%2C+3%C3%973+kernel%29",
    "32×32, 3→4 channels, K=5": "ca_h=32&ca_w=32&ca_k=5&ca_cin=3&ca_cout=4",
    "32×32, K=7, dilation 3, padding 3": "ca_h=32&ca_w=32&ca_k=7&ca_dil=3&ca_pad=3&ca_cin=3&ca_cout=4",
    "32×32 max pooling, K=2": "ca_h=32&ca_w=32&ca_k=2&ca_stride=2&ca_op=max+pooling&ca_cin=3",
    "transposed 32×32, S=4, K=7, 3→4": ("ca_op=transposed+convolution&ca_h=32&ca_w=32&ca_k=7&ca_stride=4"
                                         "&ca_cin=3&ca_cout=4"),
    "transposed 32×32, S=4, K=7, D=3, OP=3": ("ca_op=transposed+convolution&ca_h=32&ca_w=32&ca_k=7&ca_stride=4"
                                               "&ca_dil=3&ca_opad=3&ca_cin=3&ca_cout=4"),
}

OBSERVER = """
window.__last = performance.now();
new MutationObserver(() => { window.__last = performance.now(); })
  .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""

SETTLED = """(expected) => {
  const running = document.querySelector('[data-testid="stStatusWidget"]');
  const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]').length;
  const drawn = document.querySelectorAll('.js-plotly-plot .main-svg').length;
  return !running && document.querySelector(expected) && drawn >= charts && performance.now() - window.__last > 1500;
}"""


def settle_seconds(browser, url: str, expected: str = ".js-plotly-plot .main-svg") -> float:
    """Seconds from navigation to the last DOM change, once `expected` (a CSS selector) is on the page."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.add_init_script(OBSERVER)
    page.goto(url)
    page.wait_for_function(SETTLED, arg=expected, timeout=180_000, polling=100)
    seconds = page.evaluate("() => window.__last") / 1000
    context.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="page paths with queries (default: the conv cases)")
    parser.add_argument("--url", default=None, help="a running server (default: start `make run`)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--expect", default=".js-plotly-plot .main-svg",
                        help="CSS selector that must be on the page before it counts as settled")
    args = parser.parse_args()
    cases = {p: p for p in args.paths} or {name: f"conv?{q}" for name, q in CONV_CASES.items()}
    print(f"load average before: {os.getloadavg()}")
    server = None if args.url else Server({})
    try:
        base = args.url or server.url
        if server:
            print(f"`make run` answered /_stcore/health after {server.wait_healthy():.1f} s")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
            settle_seconds(browser, f"{base}/conv")  # the browser's own first start
            print(f"{'case':<42}{'median s':>10}{'max s':>8}")
            for name, path in cases.items():
                times = [settle_seconds(browser, f"{base}/{path}", args.expect) for _ in range(args.repeats)]
                print(f"{name:<42}{statistics.median(times):>10.2f}{max(times):>8.2f}")
            browser.close()
    finally:
        if server:
            server.stop()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
