"""The whole class trains at once (issue 17): 30 students each start a linear probe on 2 × 20 photos within a minute.

Each simulated student (one websocket, `bench/streamlit_client.py`) opens the Transfer-learning page, uploads a
zip of two class folders of 20 photos each (crops of two gallery photos, as a student's phone photos would be),
keeps the page's defaults (EfficientNet-Lite0, feature extraction: a linear probe) and presses Start training
at a random moment of the first minute. It then follows its run through the page's live fragment, as the
browser does, noting the queue places the page shows, until the page says "Finished after".

Usage:
    .venv/bin/python bench/class_trains.py                     # `make run` on a free port, 30 students
    .venv/bin/python bench/class_trains.py --students 10 --within 30
    .venv/bin/python bench/class_trains.py --url http://127.0.0.1:8501

It prints the time from the last start to the last finish (target: 60 s), every run's wait and duration,
the queue places shown, errors, and the server's CPU. The work is about 1,200 Lite0 forward passes.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import io  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appserver import Server  # noqa: E402
from streamlit_client import ProtocolError, Session  # noqa: E402

PLACE = re.compile(r"Your place in the queue: (\d+)")
TIMEOUT_S = 600.0  # a run that has not finished after this long counts as failed


def class_zip(per_class: int = 20, seed: int = 0) -> bytes:
    """A zip of two class folders of `per_class` JPEG photos each: random crops of two gallery photos."""
    from PIL import Image  # noqa: PLC0415

    import skimage  # noqa: PLC0415 - only its data folder is read, as explorer.images does
    rng = random.Random(seed)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for label, file in (("cat", "chelsea.png"), ("coffee", "coffee.png")):
            photo = Image.open(Path(skimage.__file__).parent / "data" / file).convert("RGB")
            for i in range(per_class):
                w, h = photo.size
                side = rng.randint(min(w, h) // 2, min(w, h))
                x, y = rng.randint(0, w - side), rng.randint(0, h - side)
                buf = io.BytesIO()
                photo.crop((x, y, x + side, y + side)).resize((320, 320)).save(buf, "JPEG", quality=85)
                zf.writestr(f"{label}/{i}.jpg", buf.getvalue())
    return out.getvalue()


def student(url: str, data: bytes, delay: float, out: dict) -> None:
    """One student: open the page, upload the zip, wait `delay` s, start, follow the run to its end."""
    out.update(places=[], error=None)
    s = Session(url, timeout=120)
    try:
        s.open("transfer", "tl_src=Zip+of+folders")
        s.upload("tl_zipup", "my_photos.zip", data, "application/zip")
        gevent.sleep(delay)
        out["start"] = time.perf_counter()
        result = s.click("tl_start")
        while True:
            texts = " ".join(result.texts)
            out["places"] += [int(p) for p in PLACE.findall(texts)]
            if "Finished after" in texts:
                out["end"] = time.perf_counter()
                return
            if result.errors or result.exceptions:
                raise ProtocolError((result.errors or result.exceptions)[0][:160])
            if time.perf_counter() - out["start"] > TIMEOUT_S:
                raise ProtocolError(f"not finished after {TIMEOUT_S:.0f} s")
            if result.fragment is not None:  # the page's live view: its automatic reruns, as the browser sends them
                interval, fragment_id = result.fragment
                gevent.sleep(interval)
                result = s.fragment(fragment_id)
                if result.fragment is None:  # the fragment ended: the page reran whole
                    result = s.set("tl_val", 20)
            else:
                gevent.sleep(1.0)
                result = s.set("tl_val", 20)  # reread the page (the validation share: 20 %, the default)
    except (ProtocolError, OSError, KeyError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--within", type=float, default=60.0, help="seconds over which the students press Start")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--url", default=None, help="use a running server instead of starting `make run`")
    args = parser.parse_args()
    data = class_zip(args.per_class)
    server = None if args.url else Server()
    try:
        url = args.url or server.url
        if server:
            print(f"`make run` answered /_stcore/health after {server.wait_healthy():.1f} s")
            monitor = gevent.spawn(server.monitor)
        rng = random.Random(1)
        runs = [{} for _ in range(args.students)]
        gevent.joinall([gevent.spawn(student, url, data, rng.uniform(0, args.within), out) for out in runs])
        done = [r for r in runs if r.get("end")]
        failed = [r for r in runs if not r.get("end")]
        print(f"\n{args.students} students, linear probe on 2 × {args.per_class} photos, starts within "
              f"{args.within:.0f} s: {len(done)} finished, {len(failed)} failed")
        if done:
            first = min(r["start"] for r in runs if "start" in r)
            last_start = max(r["start"] for r in runs if "start" in r)
            last_end = max(r["end"] for r in done)
            durations = [r["end"] - r["start"] for r in done]
            print(f"last finish {last_end - last_start:.1f} s after the last start (target <= 60 s); "
                  f"{last_end - first:.1f} s after the first start")
            print(f"start to finish per run: median {statistics.median(durations):.1f} s, max {max(durations):.1f} s")
            places = [p for r in runs for p in r["places"]]
            print(f"queue places shown: {len(places)} readings, up to place {max(places, default=0)}; "
                  f"{sum(bool(r['places']) for r in runs)} of {len(runs)} students saw a place")
        for r in failed:
            print(f"  failed: {r.get('error')}")
        if server:
            monitor.kill()
            if server.samples:
                cpu = [c for _, c, _ in server.samples]
                print(f"server CPU {statistics.mean(cpu):.2f} cores on average; "
                      f"peak RSS {max(r for *_, r in server.samples) / 2**30:.2f} GiB")
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
