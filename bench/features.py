"""Benchmark for the Filters and feature maps page (issue 5).

Prints, with EfficientNet-Lite0 loaded and one 224 px image:
- the median time of feature maps + top-5 predictions (`explorer.filters.feature_maps.analyse`, one forward
  pass with a hook), the same done as two calls, and a bare forward pass; and their ratios;
- the payload in bytes of the 32-map grid figure (what the browser receives) and of the one-channel view.
Targets: <= 250 ms median on 2 cores; grid payload <= 3 MB. Run: `python bench/features.py [repeats]`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import plotly.graph_objects as go  # noqa: E402
import torch  # noqa: E402

from explorer import images  # noqa: E402
from explorer.filters import feature_maps
from explorer.models import zoo
from explorer.filters import feature_figures as ffig  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(repeats: int = 15) -> None:
    loaded = zoo.load("efficientnet_lite0")
    image = images.sample_image("chelsea (cat)").resize((224, 224))
    x = feature_maps.preprocess(loaded, image)
    layer = "features.3"

    def bare() -> None:
        with torch.inference_mode():
            loaded.model(x)

    def two_calls() -> None:
        feature_maps.feature_maps(loaded, image, layer)
        zoo.predict(loaded, image, k=5)

    print(f"EfficientNet-Lite0, one 224×224 image, layer {layer}, median of {repeats} interleaved runs")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: other work on the machine slows every row)")
    jobs = {"bare forward pass (preprocessed tensor)": bare,
            "preprocessing (resize, crop, normalise)": lambda: feature_maps.preprocess(loaded, image),
            "feature maps + top-5, one pass (analyse)": lambda: feature_maps.analyse(loaded, image, layer),
            "feature maps + top-5 as two calls": two_calls}
    for threads in sorted({torch.get_num_threads(), 1}, reverse=True):
        torch.set_num_threads(threads)
        times = {name: [] for name in jobs}
        for job in jobs.values():
            job()  # warm-up
        for _ in range(repeats):  # interleaved, so that every job sees the same background load
            for name, job in jobs.items():
                start = time.perf_counter()
                job()
                times[name].append((time.perf_counter() - start) * 1000)
        bare_times = times["bare forward pass (preprocessed tensor)"]
        print(f"  torch threads = {threads}")
        for name, values in times.items():
            ratio = statistics.median(v / b for v, b in zip(values, bare_times))
            target = "  (target <= 250 ms)" if "analyse" in name else ""
            print(f"    {name:<42} {statistics.median(values):7.1f} ms   ratio to bare forward {ratio:.2f}{target}")

    torch.set_num_threads(max(1, torch.get_num_threads()))
    print("Payload sent to the browser (plotly JSON bytes)")
    for layer in ("features.0.conv", "features.3"):
        result = feature_maps.analyse(loaded, image, layer)
        channels = feature_maps.top_channels(result.maps, 32)
        build_ms = median_ms(lambda: ffig.feature_grid(result.maps, channels, layer, result.seen), 5)
        grid = ffig.feature_grid(result.maps, channels, layer, result.seen)
        plain = ffig.feature_grid(result.maps, channels, layer, None)
        large = ffig.channel_figure(result.maps[channels[0]], layer, channels[0], result.seen)
        naive = go.Figure([go.Heatmap(z=result.maps[c].numpy()) for c in channels])
        c, h, w = result.maps.shape
        print(f"  {layer} ({c}×{h}×{w}), {len(channels)} maps:")
        print(f"    grid with overlay: {len(grid.to_json()):>10,} B (target <= 3,000,000; built in {build_ms:.0f} ms)")
        print(f"    grid, no overlay:  {len(plain.to_json()):>10,} B")
        print(f"    one channel large: {len(large.to_json()):>10,} B")
        print(f"    (for comparison, {len(channels)} float heatmaps at native size: {len(naive.to_json()):,} B)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
