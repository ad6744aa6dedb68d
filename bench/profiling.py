"""Benchmark of explorer.architecture.profiling (issue 4). Prints medians; run: python bench/profiling.py [--quick]

1. Per zoo model at its crop size: median time to build on the meta device and profile, and the
   ratio to a plain CPU forward pass (real weights, batch 1, no_grad) measured in the same run.
2. The full comparison over every zoo model (what the page computes once per server).
3. Peak RSS while profiling VGG-16, above the idle process (fresh subprocess, ru_maxrss).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from explorer.architecture import comparison  # noqa: E402
from explorer.models import registry  # noqa: E402

REPEATS = 5

# VmHWM (peak RSS of this process image, kB); writing "5" to clear_refs resets it to the current RSS.
# ru_maxrss would not do: Linux carries it across exec from the forked parent.
_RSS_CHILD = """
import sys
sys.path.insert(0, {root!r})
import torch
from explorer.architecture import comparison
from explorer.models import registry

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])

comparison.profile_model("lenet5")  # warm the code paths, so idle includes the imports
open("/proc/self/clear_refs", "w").write("5")
idle = status("VmRSS:")
prof = comparison.profile_model("vgg16")
peak = status("VmHWM:")
open("/proc/self/clear_refs", "w").write("5")
control_idle = status("VmRSS:")
model = registry.build("vgg16")  # the control: real weights on the CPU
control = status("VmHWM:") - control_idle
print(idle, peak, prof.params, control)
"""


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(quick: bool = False) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {REPEATS} repeats per figure")
    print(f"{'model':20s} {'profile (ms)':>12s} {'forward (ms)':>12s} {'ratio':>7s}")
    worst = 0.0
    for name in registry.list_models():
        entry = registry.info(name)
        comparison.profile_model(name)  # warm-up
        t_prof = _median_time(lambda: comparison.profile_model(name), REPEATS)
        worst = max(worst, t_prof)
        t_fwd = float("nan")
        if not quick:
            model = registry.build(name)
            x = torch.randn(1, *entry.input_shape)
            with torch.no_grad():
                model(x)
                t_fwd = _median_time(lambda: model(x), 3)
            del model
        print(f"{name:20s} {1e3 * t_prof:12.1f} {1e3 * t_fwd:12.1f} {t_prof / t_fwd:7.2f}")
    print(f"slowest profile: {1e3 * worst:.0f} ms (target <= 1000 ms)")

    names = registry.list_models()
    t_all = _median_time(lambda: comparison.compare(names), 3)
    print(f"full comparison of {len(names)} models: median {t_all:.2f} s over 3 runs (target <= 15 s)")

    out = subprocess.run([sys.executable, "-c", _RSS_CHILD.format(root=str(Path(__file__).resolve().parents[1]))],
                         capture_output=True, text=True, check=True).stdout.split()
    idle, peak, params, control = map(int, out)
    print(f"VGG-16 ({params:,} params, {params * 4 / 1e6:.0f} MB of float32 weights if allocated): "
          f"peak RSS {peak / 1024:.0f} MB, idle {idle / 1024:.0f} MB, above idle {(peak - idle) / 1024:.1f} MB "
          "(target <= 300 MB)")
    print(f"  control: building VGG-16 with real weights on the CPU raises the peak by {control / 1024:.0f} MB")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
