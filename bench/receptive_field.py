"""Benchmark for the Receptive fields page (issue 11).

Prints, with the load average (other work on the machine slows every row; compare ratios):
1. analytic fields for all layers of every zoo model: `receptive_fields` on an architecture already
   built (uncached), the meta-device build the page adds on a miss, and a hit of the page's cache
   (`ui.receptive_fields.data.fields`, the server-wide `ui.models.shared`). Targets: ≤ 100 ms uncached, ≤ 20 ms cached.
2. drawing a unit's box after a click: the server work of the unit fragment once fields and maps are
   cached (cache hits, box, figures, JSON), and a whole-script rerun in AppTest. Target: ≤ 150 ms.
3. the effective receptive field of a mid-network Lite0 layer over 8 images, trained and random
   weights, with the progress callback. Target: ≤ 3 s.
Run: `python bench/receptive_field.py [repeats]`.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CNN_EXPLORER_OFFLINE", "1")
logging.getLogger("streamlit").setLevel(logging.ERROR)
warnings.filterwarnings("ignore")

import torch  # noqa: E402

from explorer import images  # noqa: E402
from explorer.models import zoo
from explorer.receptive_fields import fields as rf  # noqa: E402
from explorer.receptive_fields import inputs as rf_inputs  # noqa: E402
from explorer.receptive_fields import figures as figs  # noqa: E402
from explorer.models import registry
from explorer.receptive_fields import effective  # noqa: E402

MID_LAYER = "features.4"  # Lite0's fifth of nine stages: 14×14, field 163 px


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def analytic(repeats: int) -> None:
    from ui.receptive_fields import data as rf_data  # Streamlit's caches work outside a server run (in memory)

    print(f"1 · Analytic fields, all layers, each model at its own input size; median of {repeats} ({load()})")
    print(f"   {'model':<20} {'layers':>6} {'uncached':>9} {'meta build':>11} {'cached':>8}")
    worst = (0.0, "")
    for name in registry.list_models():
        side = registry.info(name).input_size
        with torch.device("meta"):
            model = registry.build(name)
        uncached = statistics.median(timed(lambda: rf.receptive_fields(model, side), repeats))

        def build():
            with torch.device("meta"):
                registry.build(name)

        build_ms = statistics.median(timed(build, max(1, repeats // 2)))
        cached = statistics.median(timed(lambda: rf_data.fields(name, (side, side)), repeats))
        count = len(rf.receptive_fields(model, side))
        worst = max(worst, (uncached, name))
        print(f"   {name:<20} {count:>6} {uncached:>7.1f}ms {build_ms:>9.1f}ms {cached:>6.2f}ms")
    print(f"   slowest uncached: {worst[1]} {worst[0]:.0f} ms (target ≤ 100 ms); cached target ≤ 20 ms")


def click(repeats: int) -> None:
    from ui.receptive_fields import data as rf_data
    from ui.receptive_fields import unit
    from ui.models import image_key

    print(f"2 · A unit's box after a click (Lite0, features.3, 224 px; {load()})")
    net = rf_data.Net("efficientnet_lite0", "EfficientNet-Lite0", (224, 224), rf_inputs.zoo_input("efficientnet_lite0", 224))
    image = images.sample_image("chelsea (cat)")
    photo = image_key(image)
    x, _ = rf_data.prepared(net, photo, image)
    rf_data.fields(net.key, net.side)
    rf_data.layer_maps(net, photo, "features.3", x).result()
    row = iter(range(10**6))

    def fragment_work() -> None:
        fields = rf_data.fields(net.key, net.side)
        f = rf.find(fields, "features.3")
        r = next(row) % 28
        box = rf.unit_box(f, r, 25)
        key = image_key(image)
        _, seen = rf_data.prepared(net, key, image)
        maps = rf_data.layer_maps(net, key, "features.3", x).result()
        unit_fig = figs.unit_figure(seen, box, "features.3", "on the cat", unit._earlier_boxes(fields, f, r, 25))
        map_fig = figs.map_figure(maps.mean(axis=0), (r, 25), "features.3")
        unit_fig.to_json(), map_fig.to_json()

    times = timed(fragment_work, repeats)
    print(f"   fragment work (cache hits, box, two figures, JSON): median {statistics.median(times):.0f} ms, "
          f"max {max(times):.0f} ms (target ≤ 150 ms)")
    from tests.pages.apptest import open_page

    at = open_page("app_pages/receptive_fields.py")
    reruns = []
    for r in range(repeats):
        start = time.perf_counter()
        at.slider(key="rf_row").set_value(r % 28).run()
        reruns.append((time.perf_counter() - start) * 1000)
    print(f"   whole-page rerun in AppTest (every section, not only the fragment): median "
          f"{statistics.median(reruns):.0f} ms")


def effective_field(repeats: int) -> None:
    print(f"3 · Effective receptive field, Lite0 {MID_LAYER}, 8 images at 224 px ({load()})")
    lite = zoo.load("efficientnet_lite0")
    torch.manual_seed(0)
    random = registry.build("efficientnet_lite0")
    photos = list(images.sample_images().values())[:8]
    batch = rf_inputs.preprocess(rf_inputs.zoo_input("efficientnet_lite0", 224), photos)
    field = rf.find(rf.receptive_fields(lite.model, 224), MID_LAYER)
    box = rf.unit_box(field, field.output_size[0] // 2, field.output_size[1] // 2)
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for label, model in (("trained", lite.model), ("random", random)):
            for batch_size in (1, 4, 8):
                calls: list[float] = []
                times = timed(lambda: effective.effective_rf(model, MID_LAYER, batch, batch_size=batch_size,
                                                      progress=lambda f, m: calls.append(f)), repeats)
                side = effective.centred_square(effective.effective_rf(model, MID_LAYER, batch, batch_size=batch_size), centre)
                print(f"   {threads} thread(s), {label:<7} weights, batch {batch_size}: median "
                      f"{statistics.median(times) / 1000:.2f} s (target ≤ 3 s), {len(calls) // (repeats + 1)} "
                      f"progress updates; 90% of the gradient in {side} px of the {field.size[0]} px field")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(1)  # as the app runs (streamlit_app.py): one intra-op thread per computation
    analytic(n)
    click(n)
    effective_field(max(1, n // 2))
