"""Classroom load benchmark: a class of N students on one server, started as a user starts it (`make run`,
or `make run REPLICAS=2` for web replicas behind Caddy).

Each simulated student is a Locust user holding one websocket (`bench/streamlit_client.py`) and
speaking Streamlit's protocol as the browser does. The class opens the teacher's link together,
then every student changes widgets with 1-5 s of think time, mostly on the conv and filters pages,
some on architectures, zoo and transfer. About a third upload their own photo into the image
picker; `--trainers` students start training runs on the Transfer-learning page and watch them
(the page's run_every fragment), starting a new run when one ends.

Usage:
    .venv/bin/python bench/classroom.py                      # 10, 30 and 60 students, 2 minutes each
    .venv/bin/python bench/classroom.py --students 30 --minutes 3 --trainers 4
    .venv/bin/python bench/classroom.py --soak 200           # the soak: 200 short sessions, RSS over time
    .venv/bin/python bench/classroom.py --url http://host:8501 --students 30   # an already running server
    .venv/bin/python bench/classroom.py --students 60 --replicas 1 2 --warm-first   # 1 process, then 2 replicas

Per page it prints first-visit and rerun p50/p95/max (seconds), runs per second and errors:
exception elements, timeouts, disconnects and images that fail to load; and the server's CPU
(cores busy, averaged) and peak RSS and PSS of all its processes (web processes, profiling helpers,
Dask scheduler and worker, Caddy), with the load average before and after; with replicas, how many
students each one got. With several `--replicas` values, a table compares them at the end. A CSV of
every request goes to bench/results/.
Targets (issue 10): 30 students: 0 errors, rerun p95 <= 1 s and first-visit p95 <= 3 s on every page,
peak RSS <= 3 GB; 60 students: 0 errors, rerun p95 <= 2 s.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import psutil  # noqa: E402
from locust import User, between, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appserver import RESULTS, Server  # noqa: E402
from streamlit_client import ProtocolError, RunResult, Session  # noqa: E402


TEACHER_LINK = ("conv", "ca_h=7&ca_w=7&ca_k=3&ca_stride=2")  # "7×7 input, 3×3 kernel, stride 2"
#: Where students spend their clicks (page url path -> weight).
PAGE_WEIGHTS = {"conv": 30, "filters": 26, "architectures": 10, "zoo": 8, "receptive-fields": 10, "attributions": 8,
                "transfer": 5, "home": 3}
UPLOAD_SHARE = 0.33  # students who upload their own photo once
ROAM_MODELS = True  # students may pick any zoo model (the soak keeps to the default ones: see soak())


# ----------------------------------------------------------------------------------- what students click
def _choice(s: Session, key: str, rng: random.Random, prefer: list[str] | None = None, p: float = 0.8) -> str:
    options = s.widgets[key].options
    wanted = [o for o in (prefer or []) if o in options]
    return rng.choice(wanted) if wanted and rng.random() < p else rng.choice(options)


def conv_click(s: Session, rng: random.Random) -> RunResult:
    """Mostly small, readable settings; sometimes the largest ones the sliders allow."""
    key = rng.choice(["ca_stride", "ca_k", "ca_pad", "ca_h", "ca_dil", "ca_op", "ca_cin", "ca_cout", "ca_preset",
                      "ca_padmode", "ca_big"])
    if key not in s.widgets and key != "ca_big":  # hidden by another setting ("same" padding has no amount)
        key = "ca_stride"
    if key == "ca_big":
        s.set("ca_h", 32)
        return s.set("ca_w", 32)
    values = {"ca_stride": [1, 2, 3, 4], "ca_k": [1, 2, 3, 5, 7], "ca_pad": [0, 1, 2, 3], "ca_h": [4, 5, 7, 9, 16],
              "ca_dil": [1, 2, 3], "ca_cin": [1, 2, 3], "ca_cout": [1, 2, 4]}
    if key in values:
        return s.set(key, rng.choice(values[key]))
    return s.set(key, _choice(s, key, rng))


def filters_click(s: Session, rng: random.Random) -> RunResult:
    key = rng.choice(["fm_layer", "fm_layer", "fm_top", "fk_kernel", "fk_size", "img", "fm_channel", "fm_model",
                      "ff_layer"])
    if key == "img" and "img" not in s.widgets:
        if "img_src" in s.widgets:
            return s.set("img_src", ["Gallery"])
        key = "fm_model"  # the page stopped above the picker while a model loads
    if key not in s.widgets and key != "fm_top":  # not on the page now (an untrained model's view)
        key = "fm_model"
    if key == "fm_top":
        return s.set(key, rng.choice([4, 8, 16, 32, 64]))
    if key == "fm_model":  # most of the class stays on the default; some pick any network
        return s.set(key, _choice(s, key, rng, ["efficientnet_lite0"], p=0.6 if ROAM_MODELS else 1.0))
    return s.set(key, _choice(s, key, rng))


def architectures_click(s: Session, rng: random.Random) -> RunResult:
    key = rng.choice(["ar_model", "ar_model", "ar_size", "ar_batch", "ar_tab"])
    if key == "ar_tab" and "ar_tab" in s.widgets:
        return s.set(key, rng.choice(["One model", "Compare models", "Lecture tables", "Calculators"]))
    if key not in s.widgets:  # another tab is open: go back to the first one
        return s.set("ar_tab", "One model")
    if key == "ar_size":
        return s.set(key, rng.choice([32, 64, 128, 224, 299]))
    if key == "ar_batch":
        return s.set(key, rng.choice([1, 8, 32, 64]))
    return s.set(key, _choice(s, key, rng))


def zoo_click(s: Session, rng: random.Random) -> RunResult:
    key = rng.choice(["model", "model", "img"])
    if key == "img" and "img" not in s.widgets:
        return s.set("img_src", ["Gallery"])
    return s.set(key, _choice(s, key, rng, ["efficientnet_lite0", "efficientnet_lite1", "resnet18"],
                              p=0.5 if ROAM_MODELS else 1.0))


def transfer_click(s: Session, rng: random.Random) -> RunResult:
    key = rng.choice(["tl_src", "tl_val", "tl_bb", "tl_ep"])
    if key == "tl_src":
        return s.set(key, [rng.choice(["Demo: shapes", "Demo: digits"])])
    if key == "tl_val":
        return s.set(key, rng.choice([15, 20, 25, 30]))
    if key == "tl_ep":
        return s.set(key, rng.choice([3, 5, 10]))
    return s.set(key, _choice(s, key, rng))


def receptive_fields_click(s: Session, rng: random.Random) -> RunResult:
    """Mostly dragging the layer slider; now and then the toy stack, another model or the effective field."""
    key = rng.choice(["rf_layer", "rf_layer", "rf_layer", "rf_map", "rf_L", "rf_K", "rf_S", "rf_D", "rf_model",
                      "rf_erf"])
    toy = {"rf_L": 6, "rf_K": 7, "rf_S": 3, "rf_D": 3}
    if key in toy:
        return s.set(key, float(rng.randint(1, toy[key])))
    if key == "rf_erf":  # a Dask task (about 1 s per image and weights), shared by everyone asking the same
        return s.set(key, rng.random() < 0.5)
    if key == "rf_model":
        return s.set(key, _choice(s, key, rng, ["efficientnet_lite0"], p=0.7 if ROAM_MODELS else 1.0))
    return s.set(key, _choice(s, key, rng))


def attributions_click(s: Session, rng: random.Random) -> RunResult:
    """Display settings, the class to explain, Occlusion's window, and now and then Compute (Dask tasks)."""
    key = rng.choice(["at_opacity", "at_scale", "at_rank", "at_layer", "at_window", "at_compute", "at_model"])
    if key != "at_compute" and key not in s.widgets:  # the page still runs the model on the photo: only the
        key = "at_model"                              # pickers above it are there (a student waits, or switches)
    if key == "at_compute" and "at_compute" in s.widgets:
        return s.click(key)
    if key in ("at_opacity", "at_compute") and "at_opacity" in s.widgets:
        return s.set("at_opacity", rng.choice([0.3, 0.5, 0.7, 0.9]))
    if key == "at_window":
        return s.set(key, float(rng.choice([16, 32, 48, 64])))
    if key in ("at_model", "at_compute"):
        return s.set("at_model", _choice(s, "at_model", rng, ["efficientnet_lite0"], p=0.8 if ROAM_MODELS else 1.0))
    return s.set(key, _choice(s, key, rng))


def home_click(s: Session, rng: random.Random) -> RunResult:
    return s.open("home")


CLICKS = {"conv": conv_click, "filters": filters_click, "architectures": architectures_click, "zoo": zoo_click,
          "receptive-fields": receptive_fields_click, "attributions": attributions_click,
          "transfer": transfer_click, "home": home_click}


def photo_jpeg() -> bytes:
    """A phone-sized photo (about 12 MP JPEG) made from a real one, as a student would upload it."""
    from PIL import Image  # noqa: PLC0415

    import skimage  # noqa: PLC0415 - only its data folder is read, as explorer.images does
    src = Path(skimage.__file__).parent / "data" / "astronaut.png"
    image = Image.open(src).convert("RGB").resize((4000, 3000))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


# ----------------------------------------------------------------------------------- the student
class Student(User):
    """One student: opens the teacher's link, then clicks with 1-5 s of think time."""

    wait_time = between(1, 5)
    photo: bytes = b""
    trainers_left = 0  # set per level: how many students start training runs

    def on_start(self) -> None:
        self.rng = random.Random()
        self.visited: set[str] = set()
        self.fragment: tuple[float, str] | None = None
        self.trainer = Student.trainers_left > 0
        Student.trainers_left -= 1
        self.uploads = self.rng.random() < UPLOAD_SHARE
        self.session = None
        try:
            self.session = Session(self.host, timeout=60)
        except Exception as exc:  # noqa: BLE001 - counted as an error of the first visit
            self._record("visit", TEACHER_LINK[0], None, 0.0, exc)
            raise
        self.page = ""
        PLACED[self.session.replica] += 1
        self._open(*TEACHER_LINK)

    def on_stop(self) -> None:
        if self.session is not None:
            self.session.close()

    # ------------------------------------------------------------------ bookkeeping
    def _record(self, kind: str, page: str, result: RunResult | None, seconds: float, error: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type=kind, name=page, response_time=seconds * 1000,
            response_length=result.bytes if result else 0, exception=error, context={})

    def _timed(self, kind: str, page: str, action) -> RunResult | None:
        start = time.perf_counter()
        try:
            result = action()
        except (ProtocolError, OSError, KeyError, IndexError) as exc:
            self._record(kind, page, None, time.perf_counter() - start, exc)
            if isinstance(exc, ProtocolError) and "connection lost" in str(exc):
                self._reconnect()
            return None
        error = ProtocolError("exception on the page: " + result.exceptions[0][:200]) if result.exceptions else None
        self._record(kind, page, result, result.seconds, error)
        if result.errors:
            ALERTS[(page, result.errors[0][:90])] += 1
        if result.images:
            start = time.perf_counter()
            failed = self.session.fetch_images(result)
            self._record("image", page, None, time.perf_counter() - start,
                         ProtocolError(f"{len(failed)} image(s) failed to load") if failed else None)
        self.fragment = result.fragment if kind != "fragment" else self.fragment
        return result

    def _reconnect(self) -> None:
        self.session.close()
        self.session = Session(self.host, timeout=60)
        PLACED[self.session.replica] += 1
        self.visited.clear()
        self._open(*TEACHER_LINK)

    def _open(self, page: str, query: str = "") -> RunResult | None:
        kind = "visit" if page not in self.visited else "revisit"
        self.visited.add(page)
        self.page = page
        return self._timed(kind, page, lambda: self.session.open(page, query))

    # ------------------------------------------------------------------ behaviour
    @task
    def act(self) -> None:
        if self.trainer:
            return self._train()
        if self.uploads and self.page in ("filters", "zoo"):
            self.uploads = False
            self._timed("rerun", self.page, lambda: self.session.set("img_src", ["Upload"]))
            self._timed("upload", self.page, lambda: self.session.upload("img_upload", "my_photo.jpg", self.photo,
                                                                         "image/jpeg"))
            return None
        page = self.rng.choices(list(PAGE_WEIGHTS), weights=list(PAGE_WEIGHTS.values()))[0]
        if page != self.page or self.rng.random() < 0.05:
            self._open(page)
        else:
            self._timed("rerun", page, lambda: CLICKS[page](self.session, self.rng))
        return None

    def _train(self) -> None:
        """Keep one run in flight: start one, then watch it through the page's fragment until it ends."""
        if self.page != "transfer":
            self._open("transfer", "tl_src=Demo%3A+shapes&tl_ep=5")
            return
        if self.fragment is not None:  # the live view is polling: send its automatic reruns
            interval, fragment_id = self.fragment
            end = time.perf_counter() + self.rng.uniform(3, 8)
            while self.fragment is not None and time.perf_counter() < end:
                gevent.sleep(interval)
                result = self._timed("fragment", "transfer", lambda: self.session.fragment(fragment_id))
                if result is None or result.fragment is None and not result.status.startswith("FINISHED_FRAGMENT"):
                    break
            self._timed("rerun", "transfer", lambda: self.session.set("tl_val", 25))  # reread the page
            return
        self._timed("train", "transfer", lambda: self.session.click("tl_start"))


ALERTS: Counter = Counter()
PLACED: Counter = Counter()  # sessions per replica (the proxy's X-Replica), counted as students connect


# ----------------------------------------------------------------------------------- one level
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_level(url: str, students: int, minutes: float, ramp: float, trainers: int, server: Server | None) -> dict:
    """Run `students` students for `minutes` and return the figures; prints a table per page."""
    records: list[tuple[str, str, float, int, str]] = []  # kind, page, seconds, bytes, error

    def on_request(request_type, name, response_time, response_length, exception, **_):
        records.append((request_type, name, response_time / 1000, response_length,
                        "" if exception is None else f"{type(exception).__name__}: {exception}"[:160]))

    env = Environment(user_classes=[Student], events=events, host=url)
    env.events.request.add_listener(on_request)
    Student.trainers_left = trainers
    ALERTS.clear()
    PLACED.clear()
    load_before = os.getloadavg()
    monitor = gevent.spawn(server.monitor) if server else None  # monkey-patched: a greenlet
    probes: list[float | None] = []  # seconds each health probe took, None when it got no answer
    prober = gevent.spawn(probe_health, url, probes)
    started, me = time.perf_counter(), psutil.Process()
    cpu_before = sum(me.cpu_times()[:2])
    runner = env.create_local_runner()
    runner.start(students, spawn_rate=max(1.0, students / ramp))
    gevent.sleep(minutes * 60)
    runner.quit()
    elapsed = time.perf_counter() - started
    client_cpu = (sum(me.cpu_times()[:2]) - cpu_before) / elapsed
    if monitor:
        monitor.kill()
    prober.kill()
    env.events.request.remove_listener(on_request)

    RESULTS.mkdir(exist_ok=True)
    replicas = f"-{server.replicas}replicas" if server and server.replicas > 1 else ""
    with open(RESULTS / f"classroom-{students}{replicas}.csv", "w", newline="") as f:
        csv.writer(f).writerows([("kind", "page", "seconds", "bytes", "error"), *records])
    summary = summarize(records, students, elapsed, server, client_cpu, (load_before, os.getloadavg()))
    answered = [p for p in probes if p is not None]
    summary["missed_probes"] = len(probes) - len(answered)
    print(f"health probes (one a second, {PROBE_TIMEOUT_S:.0f} s timeout): {len(probes)} sent, "
          f"{summary['missed_probes']} missed; slowest answer {max(answered, default=float('nan')):.2f} s")
    return summary


PROBE_TIMEOUT_S = 5.0


def probe_health(url: str, out: list[float | None]) -> None:
    """Ask /_stcore/health once a second (a greenlet), appending each answer's seconds, or None if none came
    within PROBE_TIMEOUT_S: a server that stops answering (the deadlock of issue 17) shows up as misses."""
    while True:
        start = time.perf_counter()
        try:
            ok = urllib.request.urlopen(f"{url}/_stcore/health", timeout=PROBE_TIMEOUT_S).read() == b"ok"
        except OSError:
            ok = False
        took = time.perf_counter() - start
        out.append(took if ok else None)
        gevent.sleep(max(0.0, 1.0 - took))


def summarize(records: list, students: int, elapsed: float, server: Server | None, client_cpu: float,
              load: tuple[tuple[float, ...], tuple[float, ...]]) -> dict:
    by_page: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    errors: Counter = Counter()
    for kind, page, seconds, _, error in records:
        if error:
            errors[(page, kind, error.split(":")[0] + ":" + error.split(":", 1)[-1][:70])] += 1
        else:
            by_page[page][kind].append(seconds)
    setup = f", {server.replicas} web replicas behind Caddy" if server and server.replicas > 1 else ""
    print(f"\n== {students} students{setup}, {elapsed:.0f} s ==")
    print(f"{'page':<18}{'kind':<9}{'n':>6}{'p50':>8}{'p95':>8}{'max':>8}{'runs/s':>8}")
    summary = {"students": students, "replicas": server.replicas if server else None, "pages": {},
               "errors": sum(errors.values()), "load": load}
    for page in sorted(by_page):
        for kind in ("visit", "revisit", "rerun", "upload", "train", "fragment", "image"):
            times = by_page[page].get(kind)
            if not times:
                continue
            row = (len(times), percentile(times, 0.5), percentile(times, 0.95), max(times), len(times) / elapsed)
            summary["pages"][(page, kind)] = row
            print(f"{page:<18}{kind:<9}{row[0]:>6}{row[1]:>8.2f}{row[2]:>8.2f}{row[3]:>8.2f}{row[4]:>8.2f}")
    runs = sum(1 for kind, *_ in records if kind != "image")
    print(f"script runs per second (all pages): {runs / elapsed:.1f}")
    print(f"errors: {sum(errors.values())}")
    for (page, kind, error), n in errors.most_common(12):
        print(f"  {n:>4} × {page} {kind}: {error}")
    if ALERTS:
        print("error messages shown to students (st.error; expected for impossible settings):")
        for (page, text), n in ALERTS.most_common(6):
            print(f"  {n:>4} × {page}: {text}")
    if len(PLACED) > 1 or any(PLACED):
        print("sessions per replica: " + ", ".join(f"{r}: {n}" for r, n in sorted(PLACED.items())))
    if server and server.samples:
        cpu = [c for _, c, _ in server.samples]
        peak = max(r for *_, r in server.samples)
        pss = sum(server.peak.values())
        summary.update(cpu=statistics.mean(cpu), rss=peak, pss=pss)
        parts = ", ".join(f"{k} {v / 2**30:.2f}" for k, v in server.peak.most_common() if v > 2**26)
        print(f"server, all its processes: CPU {statistics.mean(cpu):.2f} cores busy on average (max {max(cpu):.2f} "
              f"of {os.cpu_count()}); peak RSS {peak / 2**30:.2f} GiB (shared pages counted in each process), "
              f"peak PSS {pss / 2**30:.2f} GiB ({parts})")
    print(f"load generator CPU (this process, on the same machine): {client_cpu:.2f} cores busy on average")
    print("load average (1, 5, 15 min) before: {:.1f} {:.1f} {:.1f}; after: {:.1f} {:.1f} {:.1f}".format(*load[0],
                                                                                                     *load[1]))
    return summary


# ----------------------------------------------------------------------------------- the soak
def soak(url: str, sessions: int, server: Server, ttl: float) -> None:
    """Open and close `sessions` sessions (a few clicks each, 10 at a time), then wait for the
    disconnected sessions to expire and compare RSS with its level after the first 20.

    The sessions keep to the default models (Lite0, Lite1, ResNet-18), so that the server's model
    budget, a deliberate cache of up to `CNN_EXPLORER_MODEL_MB`, fills in the first sessions and what
    is measured afterwards is what sessions leave behind.
    """
    global ROAM_MODELS
    ROAM_MODELS = False
    rng = random.Random(0)
    failures: Counter = Counter()
    proc = server.process()
    photo = photo_jpeg()
    marks: dict[str, float] = {}

    def one(i: int) -> None:
        s = Session(url, timeout=60)
        try:
            page = rng.choice(["conv", "filters", "zoo", "architectures", "transfer"])
            results = [s.open(page)]
            for _ in range(3):
                results.append(CLICKS[page](s, rng))
            if page in ("filters", "zoo") and i % 3 == 0:
                s.set("img_src", ["Upload"])
                results.append(s.upload("img_upload", "photo.jpg", photo, "image/jpeg"))
            for r in results:
                failures.update(f"{page}: exception on the page: {e[:100]}" for e in r.exceptions)
        except (ProtocolError, KeyError, IndexError) as exc:
            failures[f"{page}: {type(exc).__name__}: {str(exc)[:100]}"] += 1
        finally:
            s.close()

    start = time.perf_counter()
    for first in range(0, sessions, 10):
        gevent.joinall([gevent.spawn(one, i) for i in range(first, min(first + 10, sessions))])
        rss = proc.memory_info().rss
        print(f"  {first + 10:>4} sessions opened and closed: RSS {rss / 2**20:,.0f} MiB "
              f"({time.perf_counter() - start:.0f} s)")
        if first + 10 == 20:
            marks["after 20"] = rss
    marks["after all"] = proc.memory_info().rss
    print(f"  waiting {ttl:.0f} s for the disconnected sessions to expire…")
    gevent.sleep(ttl)
    for s in [Session(url, timeout=60)]:  # one visit lets the runtime drop expired sessions
        s.open("home")
        s.close()
    gevent.sleep(5)
    marks["expired"] = proc.memory_info().rss
    base = marks["after 20"]
    for name, rss in marks.items():
        print(f"  RSS {name:<10} {rss / 2**20:>8,.0f} MiB ({rss / base - 1:+.1%} vs after 20)")
    print(f"  errors: {sum(failures.values())}")
    for text, n in failures.most_common(8):
        print(f"    {n} × {text}")


# ----------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[10, 30, 60])
    parser.add_argument("--minutes", type=float, default=2.0, help="per class size")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which the class opens the link")
    parser.add_argument("--trainers", type=int, default=2, help="students who keep a training run in flight")
    parser.add_argument("--threads", default=None, help="CNN_EXPLORER_THREADS for the server (default: its own)")
    parser.add_argument("--url", default=None, help="use a running server instead of starting `make run`")
    parser.add_argument("--pages", nargs="+", default=None, choices=list(PAGE_WEIGHTS),
                        help="keep only these pages in the mix (to compare with a version that lacks the others)")
    parser.add_argument("--warm-first", action="store_true",
                        help="let the class in once the warm start has filled the shared caches (a server started "
                             "before class), not as soon as it answers /_stcore/health")
    parser.add_argument("--soak", type=int, default=0, metavar="SESSIONS", help="run the soak instead")
    parser.add_argument("--ttl", type=float, default=None, help="soak: seconds to wait for sessions to expire")
    parser.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE", help="extra server environment")
    parser.add_argument("--checkout", type=Path, default=None,
                        help="serve another checkout of the project (`make run` there), e.g. an older version")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each level this many times back to back on the same server (the hang soak: "
                             "--students 60 --minutes 5 --repeat 3 passes only with 0 missed health probes)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1],
                        help="web processes: 1 is `make run`, more is `make run REPLICAS=N` (Caddy in front); "
                             "several values run one after the other and are compared at the end")
    args = parser.parse_args()
    if args.soak and args.replicas != [1]:
        parser.error("the soak follows one web process's memory: leave out --replicas")
    RESULTS.mkdir(exist_ok=True)
    Student.photo = photo_jpeg()
    print(f"load average before: {os.getloadavg()}")
    env = dict(kv.split("=", 1) for kv in args.env)
    if args.threads:
        env["CNN_EXPLORER_THREADS"] = args.threads
    if args.pages:
        for page in set(PAGE_WEIGHTS) - set(args.pages):
            del PAGE_WEIGHTS[page]
    levels = [args.soak] if args.soak else args.students
    summaries = []
    for replicas, students in [(r, n) for r in args.replicas for n in levels]:
        server = None if args.url else Server(env, replicas=replicas,
                                               **({"root": args.checkout} if args.checkout else {}))
        try:
            url = args.url or server.url
            if server:
                print(f"`make run` answered /_stcore/health after {server.wait_healthy():.1f} s")
            if server and (args.soak or args.warm_first):  # the soak compares RSS with its level after 20 sessions
                print(f"the warm start filled the shared caches after {server.wait_warm():.1f} s")
            if args.soak:
                ttl = args.ttl if args.ttl is not None else 130.0
                soak(url, students, server, ttl)
            else:
                for _ in range(args.repeat):
                    summaries.append(run_level(url, students, args.minutes, args.ramp, args.trainers, server))
        finally:
            if server:
                server.stop()
    if len(args.replicas) > 1 and summaries:
        compare(summaries)
    if summaries:
        missed = sum(s["missed_probes"] for s in summaries)
        print(f"health probes missed over every level: {missed}" + (" (a hang?)" if missed else ""))
    print(f"load average after: {os.getloadavg()}")


def compare(summaries: list[dict]) -> None:
    """One table for levels run with different numbers of web processes: p50 / p95 per page, errors, CPU, RSS."""
    def label(s: dict) -> str:
        return f"{s['students']} st., " + ("1 process" if s["replicas"] == 1 else f"{s['replicas']} replicas")

    width = 20
    print("\n== comparison (seconds: p50 / p95) ==")
    print(f"{'page':<18}{'kind':<8}" + "".join(f"{label(s):>{width}}" for s in summaries))
    rows = sorted({key for s in summaries for key in s["pages"] if key[1] in ("rerun", "visit", "upload")})
    for page, kind in rows:
        cells = []
        for s in summaries:
            row = s["pages"].get((page, kind))
            cells.append(f"{row[1]:.2f} / {row[2]:.2f}" if row else "-")
        print(f"{page:<18}{kind:<8}" + "".join(f"{c:>{width}}" for c in cells))
    print(f"{'errors':<26}" + "".join(f"{s['errors']:>{width}}" for s in summaries))
    print(f"{'CPU, cores busy':<26}" + "".join(f"{s.get('cpu', float('nan')):>{width}.2f}" for s in summaries))
    print(f"{'peak RSS, GiB':<26}" + "".join(f"{s.get('rss', float('nan')) / 2**30:>{width}.2f}" for s in summaries))
    print(f"{'peak PSS, GiB':<26}" + "".join(f"{s.get('pss', float('nan')) / 2**30:>{width}.2f}" for s in summaries))
    print(f"{'load avg before, after':<26}"
          + "".join(f"{s['load'][0][0]:>{width - 7}.1f}, {s['load'][1][0]:>5.1f}" for s in summaries))


if __name__ == "__main__":
    main()
