"""Benchmark of the convolution-arithmetic page (issue 3).

Prints, for a 16×16 input with 3 input and 4 output channels (3×3 kernel, padding 1: 256 output cells):
- the median time to recompute everything the page shows after a change of setting (values, output
  maps, partial sums, both figures, and their JSON as st.plotly_chart sends it); target ≤ 30 ms;
- the figure payload with all animation frames; target ≤ 2 MB.
Also the same for the heaviest presets, and the share of each part (ratios are stable on a busy machine).
Run: .venv/bin/python bench/conv_arithmetic.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import plotly.io as pio  # noqa: E402

from explorer.convolution import worked_example as L  # noqa: E402
from explorer.convolution import figures as figs  # noqa: E402

REPEATS = 21


def recompute(s: L.Settings) -> tuple[float, float, float, int, float]:
    """One page recompute; returns (compute s, figures s, json s, payload bytes, CPU s of the whole)."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    lab = L.compute(s)
    L.divisibility_note(lab), L.torch_code(lab), L.macs(lab), L.chain(s, lab.padding, s.h)
    t1 = time.perf_counter()
    anim, multi = figs.sliding_window_figure(lab), figs.multichannel_figure(lab)
    t2 = time.perf_counter()
    payload = pio.to_json(anim, validate=False)
    pio.to_json(multi, validate=False)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, len(payload.encode()), time.process_time() - c0


def bench(name: str, s: L.Settings) -> None:
    recompute(s)  # warm-up (imports, caches)
    runs = []
    for i in range(REPEATS):
        # a change of setting each time (a new seed), as when the instructor moves a slider
        runs.append(recompute(replace(s, seed=i + 1)))
    comp, fig, js = (statistics.median(r[k] for r in runs) for k in range(3))
    total = statistics.median(sum(r[:3]) for r in runs)
    size, cpu = runs[-1][3], statistics.median(r[4] for r in runs)
    print(f"{name:50s} recompute median {1e3 * total:6.1f} ms wall, {1e3 * cpu:5.1f} ms CPU (compute "
          f"{1e3 * comp:.1f}, figures {1e3 * fig:.1f}, json {1e3 * js:.1f})  payload {size / 1e6:.2f} MB")


if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times grow with it; CPU times less so)")
    bench("16×16, 3 in / 4 out, K=3, P=1 (issue target)", L.Settings(h=16, w=16, cin=3, cout=4, pad=1))
    bench("16×16, 3 in / 4 out, K=3, P=0", L.Settings(h=16, w=16, cin=3, cout=4))
    bench("16×16, 3 in / 4 out, K=7, D=3, P=4 (dilated)", L.Settings(h=16, w=16, cin=3, cout=4, k=7, dilation=3, pad=4))
    bench("16×16 transposed, S=2, 3 in / 4 out", L.Settings(h=16, w=16, cin=3, cout=4, stride=2, op=L.TCONV))
    name = next(n for n in L.PRESETS if "32×32" in n)
    bench("preset: " + name, L.preset(name))
    print("targets: recompute ≤ 30 ms median, payload ≤ 2 MB")
