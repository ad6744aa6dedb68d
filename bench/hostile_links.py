"""Hostile links against a real server (issue 19): hundreds of generated addresses per page, as students who edit
links would send them, plus a few deliberate worst cases per page.

Every link opens in a fresh browser-less session (`bench/streamlit_client.py`, the browser's own protocol) on a
server started as a user starts it (`make run`, through `bench/appserver.py`). Per page it prints the links sent,
exception elements (tracebacks on the page), protocol failures (no answer within the timeout), links whose markup
came back as markdown (unescaped), and the median and worst run time; then the server's peak RSS (the web
process, and with its helper processes), and whether it is healthy afterwards: /_stcore/health answers and every
page opens cleanly. Addresses come from tests/pages/addresses.py, the same keys and values as the suite's fuzz test.

Usage:
    .venv/bin/python bench/hostile_links.py                       # 200 links per page, 2 at a time
    .venv/bin/python bench/hostile_links.py --links 50 --pages conv receptive-fields --seed 3
    .venv/bin/python bench/hostile_links.py --url http://127.0.0.1:8501   # a running server (no RSS then)

Done when (issue 19): no exception element, no run over 30 s, no markup rendered, peak RSS < 4 GiB, healthy after.
This is not a test and not part of the app.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from appserver import RESULTS, Server  # noqa: E402
from streamlit_client import ProtocolError, Session  # noqa: E402

from tests.pages.addresses import MARKUP, PREFIXES, hostile_query, page_keys, query_string  # noqa: E402
from ui.safe_text import md  # noqa: E402

LIMIT_S, RSS_LIMIT = 30.0, 4 * 2**30
#: Deliberate worst cases: the largest networks and inputs an address can ask for, and heavy work turned on.
TARGETED: dict[str, list[str]] = {
    "receptive-fields": [
        "rf_model=vgg16&rf_size=1024&rf_erf=true&rf_nimg=12&rf_layer=features.29",  # refused: over the budget
        "rf_model=vgg16&rf_size=408&rf_erf=true&rf_nimg=12&rf_layer=features.29",  # the largest VGG-16 allowed
        "rf_model=vgg19&rf_size=392&rf_erf=true&rf_nimg=12",
        "rf_model=resnet152&rf_size=224&rf_erf=true&rf_nimg=12",
        "rf_model=efficientnet_lite2&rf_size=280&rf_erf=true&rf_nimg=12",  # trained and random weights
        # one effective field after another, each with 12 images of 1,024 px: their inputs must not pile up
        *(f"rf_model=alexnet&rf_size={side}&rf_erf=true&rf_nimg=12" for side in range(1016, 1025)),
        # a 43 MB layer map per size: the page's cache of maps must not keep them all
        *(f"rf_model=vgg16&rf_size={side}&rf_layer=features.1" for side in range(344, 409, 8)),
        "rf_model=custom&rf_net=3x64x64:Conv2d-8-3-1-1_ReLU_Flatten_Linear-100000&rf_erf=true",
        "rf_model=custom&rf_net=3x1024x1024:Conv2d-64-3-1-1_Conv2d-64-3-1-1_Conv2d-64-3-1-1&rf_erf=true",
        "rf_model=custom&rf_net=3x512x512:Conv2d-64-3-1-1_Conv2d-64-3-1-1_ReLU_GlobalAvgPool_Linear-10"
        "&rf_erf=true&rf_nimg=12",
        "rf_model=custom&rf_net=1x28x28:" + "ReLU_" * 2000,
    ],
    "architectures": [
        "ar_tab=Build+your+own&ar_b_c=64&ar_b_h=1024&ar_b_w=1024&ar_net=" + "_".join(["Conv2d-65536-3-1-1"] * 20),
        "ar_model=vgg19&ar_size=2048&ar_batch=512&ar_tbatch=256",
        "ar_model=densenet121&ar_size=99999999999&ar_batch=1e400",
    ],
    "filters": ["fm_model=vgg19&fk_kernel=Custom&fk_custom=1e400+0+0;0+0+0;0+0+0&fk_size=512&fm_top=64",
                "fm_model=vgg16&fk_size=512&fm_layer=features.0&fm_top=64"],
    "attributions": ["at_model=vgg19&at_methods=Occlusion&at_window=8&at_stride=4&at_checks=Occlusion",
                     "at_model=%5Bx%5D(https://example.com)&at_rank=5th+guess"],
    "transfer": ["tl_src=Demo%3A+digits&tl_ndig=180&tl_bb=vgg19&tl_ep=1e400&tl_bs=128&run=ffffffffffff"],
    "conv": ["ca_cin=4&ca_cout=4096&ca_h=32&ca_w=32&ca_k=7&ca_x=typed&ca_xv=" + "9" * 400],
    "zoo": ["model=vgg19&img=" + "x" * 5000],
    "home": ["x=" + "y" * 20000],
}


class TextSession(Session):
    """A Session that also keeps the markdown it receives: markdown and captions, alert bodies, image captions."""

    texts: list[str]

    def _run(self, msg, keep_widgets: bool = False):
        self.texts = []
        return super()._run(msg, keep_widgets)

    def _read_delta(self, fwd, result) -> None:
        super()._read_delta(fwd, result)
        if fwd.delta.WhichOneof("type") != "new_element":
            return
        element = fwd.delta.new_element
        kind = element.WhichOneof("type")
        if kind == "markdown":
            self.texts.append(element.markdown.body)
        elif kind == "alert":
            self.texts.append(element.alert.body)
        elif kind == "imgs":
            self.texts += [img.caption for img in element.imgs.imgs]


@dataclass
class PageStats:
    links: int = 0
    times: list[float] = field(default_factory=list)
    exceptions: list[tuple[str, str]] = field(default_factory=list)  # (query, message)
    failures: list[tuple[str, str]] = field(default_factory=list)
    rendered: list[tuple[str, str]] = field(default_factory=list)  # (query, markup that came back unescaped)


def _rendered(query: dict, texts: list[str]) -> list[str]:
    """Markup values of `query` that appear in `texts` other than in their escaped form."""
    values = [v for vs in query.values() for v in (vs if isinstance(vs, list) else [vs])]
    risky = [v for v in values if v in MARKUP or "](" in v or "<" in v]
    return [v for v in risky if any(v in t.replace(md(v), "").replace(md(v, None), "") for t in texts)]


def open_link(url: str, page: str, query: str, timeout: float) -> tuple[float, list[str], list[str]]:
    """(seconds, exception messages, markdown texts) of one link opened in a fresh session."""
    session = TextSession(url, timeout=timeout)
    try:
        result = session.open(page, query)
        return result.seconds, result.exceptions, session.texts
    finally:
        session.close()


class Memory:
    """Samples the server's memory every `every` seconds: the web process's RSS, and that plus the private memory
    (USS) of its child processes (the profiling helper is forked from the web process: its RSS counts the
    libraries they share twice)."""

    def __init__(self, proc: psutil.Process | None, every: float = 0.25) -> None:
        self.proc, self.every = proc, every
        self.peak_web = self.peak_total = 0
        self.peak_at = 0.0  # perf_counter() of the web process's peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        if proc is not None:
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            try:
                web = self.proc.memory_info().rss
                total = web + sum(c.memory_full_info().uss for c in self.proc.children(recursive=True))
            except psutil.Error:
                continue
            if web > self.peak_web:
                self.peak_web, self.peak_at = web, time.perf_counter()
            self.peak_total = max(self.peak_total, total)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def healthy(url: str, pages: list[str], timeout: float) -> tuple[bool, list[str]]:
    """Whether /_stcore/health answers "ok" and every page opens without an exception element."""
    problems = []
    try:
        ok = urllib.request.urlopen(f"{url}/_stcore/health", timeout=10).read() == b"ok"
    except OSError as exc:
        ok, problems = False, [f"health: {exc}"]
    for page in pages:
        try:
            seconds, exceptions, _ = open_link(url, page, "", timeout)
            problems += [f"{page}: {e}" for e in exceptions]
            if seconds > LIMIT_S:
                problems.append(f"{page}: {seconds:.1f} s")
        except ProtocolError as exc:
            problems.append(f"{page}: {exc}")
    return ok and not problems, problems


#: (start, end, page, query) of every link opened by `run`: which links ran around the memory peak.
spans: list[tuple[float, float, str, str]] = []


def run(url: str, pages: list[str], links: int, seed: int, clients: int, timeout: float) -> dict[str, PageStats]:
    """Send `links` generated links per page (and the page's TARGETED ones), `clients` at a time."""
    jobs = []
    for page in pages:
        rng = random.Random(f"{seed}-{page}")
        keys = page_keys(page) or ["x"]
        jobs += [(page, query_string(hostile_query(keys, rng)), None) for _ in range(links)]
        jobs += [(page, q, "targeted") for q in TARGETED.get(page, [])]
    random.Random(seed).shuffle(jobs)
    stats = {page: PageStats() for page in pages}
    lock = threading.Lock()
    done = [0]
    spans.clear()

    def one(job: tuple[str, str, str | None]) -> None:
        page, query, _ = job
        parsed = {k: (v if len(v) > 1 else v[0]) for k, v in parse_qs(query, keep_blank_values=True).items()}
        start = time.perf_counter()
        try:
            seconds, exceptions, texts = open_link(url, page, query, timeout)
            spans.append((start, time.perf_counter(), page, query))
        except ProtocolError as exc:
            with lock:
                stats[page].links += 1
                stats[page].failures.append((query[:200], str(exc)))
            return
        with lock:
            s = stats[page]
            s.links += 1
            s.times.append(seconds)
            s.exceptions += [(query[:200], e[:300]) for e in exceptions]
            s.rendered += [(query[:200], v) for v in _rendered(parsed, texts)]
            done[0] += 1
            if done[0] % 50 == 0:
                print(f"  … {done[0]} of {len(jobs)} links", flush=True)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, jobs))
    return stats


def report(stats: dict[str, PageStats], memory: Memory | None, health: tuple[bool, list[str]], took: float) -> dict:
    print(f"\n{'page':18s} {'links':>6s} {'exceptions':>10s} {'failures':>8s} {'markup':>6s} {'median s':>8s} "
          f"{'worst s':>8s} {'>30 s':>5s}")
    out = {"pages": {}, "seconds": took}
    for page, s in stats.items():
        worst = max(s.times, default=0.0)
        over = sum(t > LIMIT_S for t in s.times)
        median = statistics.median(s.times) if s.times else 0.0
        print(f"{page:18s} {s.links:6d} {len(s.exceptions):10d} {len(s.failures):8d} {len(s.rendered):6d} "
              f"{median:8.2f} {worst:8.2f} {over:5d}")
        out["pages"][page] = {"links": s.links, "exceptions": s.exceptions, "failures": s.failures,
                              "rendered": s.rendered, "median_s": median, "worst_s": worst, "over_30_s": over}
        for query, message in (s.exceptions + s.failures)[:3]:
            print(f"    {message[:160]}\n      ?{query[:160]}")
        for query, value in s.rendered[:3]:
            print(f"    markup rendered: {value!r}\n      ?{query[:160]}")
    if memory is not None and memory.proc is not None:
        print(f"\npeak RSS of the web process {memory.peak_web / 2**30:.2f} GiB (limit {RSS_LIMIT / 2**30:.0f} GiB); "
              f"with its helper processes' private memory {memory.peak_total / 2**30:.2f} GiB")
        out.update(peak_rss_web=memory.peak_web, peak_rss_total=memory.peak_total)
        near = [(page, query) for start, end, page, query in spans if start - 30 <= memory.peak_at <= end + 5]
        print("links opened up to 30 s before the peak (their background tasks may still run):")
        for page, query in near[-6:]:
            print(f"    /{page}?{query[:150]}")
    ok, problems = health
    print(f"healthy afterwards: {'yes' if ok else 'NO'}" + "".join(f"\n    {p}" for p in problems))
    print(f"{sum(s.links for s in stats.values())} links in {took:.0f} s")
    out.update(healthy=ok, health_problems=problems)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=200, help="generated links per page")
    parser.add_argument("--pages", nargs="+", default=list(PREFIXES), choices=list(PREFIXES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clients", type=int, default=2, help="links in flight at once")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one run")
    parser.add_argument("--url", default=None, help="use a running server instead of starting `make run`")
    args = parser.parse_args()

    server = None if args.url else Server()
    try:
        url = args.url or server.url
        if server:
            print(f"make run: healthy after {server.wait_healthy():.1f} s; warm after {server.wait_warm():.1f} s")
        memory = Memory(server.process() if server else None)
        start = time.perf_counter()
        stats = run(url, args.pages, args.links, args.seed, args.clients, args.timeout)
        took = time.perf_counter() - start
        health = healthy(url, list(PREFIXES), args.timeout)
        memory.stop()
        out = report(stats, memory, health, took)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"hostile_links-{args.seed}.json").write_text(json.dumps(out, indent=1))
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
