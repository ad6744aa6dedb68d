"""Benchmark for the Attributions page (issue 12).

EfficientNet-Lite0 loaded, one 224 px image (the gallery cat), 1 intra-op torch thread per
computation as the server runs. Heavy methods run their batches as the page does: on a pool of
one single-threaded worker per core (2 here), and also in order on one core for comparison.
Prints the median seconds of each method at the page's default settings, its ratio to one
forward + backward pass, the targets of the issue, Occlusion batched (16 windows per pass) versus
`perturbations_per_eval=1` in the same run, IG's completeness error, and the time until all
default maps are on screen (the cheap ones first). Run: `python bench/attributions.py [repeats]`.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from captum.attr import IntegratedGradients  # noqa: E402

from explorer.attribution import methods as attr  # noqa: E402
from explorer import images  # noqa: E402
from explorer.attribution import sanity_checks
from explorer.models import zoo
from explorer.attribution import occlusion
from explorer.attribution import gradients
from explorer.attribution import explained_model
from explorer.attribution import baselines

TARGETS = {"grad_cam": 0.1, "saliency": 0.15, "integrated_gradients": 3.0, "smoothgrad": 2.0, "gradient_shap": 3.0,
           "occlusion": 2.5}


def median_s(fn, repeats: int) -> float:
    return interleaved([fn], repeats)[0]


def interleaved(fns: list, repeats: int) -> list[float]:
    """Median seconds of each function, their runs interleaved so that all see the same background load."""
    for fn in fns:
        fn()  # warm-up
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main(repeats: int = 5) -> None:
    torch.set_num_threads(1)
    cores = os.cpu_count() or 1
    pool = ThreadPoolExecutor(cores, initializer=torch.set_num_threads, initargs=(1,))
    lite = zoo.load("efficientnet_lite0")
    cat = images.sample_image("chelsea (cat)")
    x = lite.transform(cat)[None]
    print(f"EfficientNet-Lite0, one 224 px image, 1 torch thread per computation, {cores} cores; "
          f"load average at start {os.getloadavg()[0]:.2f} (other work on the machine slows every row)")

    def forward() -> None:
        with torch.inference_mode():
            lite.model(x)

    def forward_backward() -> None:
        leaf = x.clone().requires_grad_()
        torch.autograd.grad(lite.model(leaf)[0, 282], leaf)

    fwd, fwd_bwd = interleaved([forward, forward_backward], 15)
    print(f"  one forward {fwd:.3f} s; one forward + backward (the ratio's unit) {fwd_bwd:.3f} s\n")
    print(f"  {'method (page defaults)':<44}{'passes':>16}{'seconds':>9}{'ratio':>8}   target")
    for name, info in attr.METHODS.items():
        passes = "{} + {}".format(*info.passes())
        rows = [("", None)] if not info.heavy else [(f" on {cores} workers", pool), (" in order, 1 core", None)]
        times = interleaved([lambda executor=executor: attr.attribute(lite, cat, name, executor=executor)
                             for _, executor in rows], repeats if info.heavy else 15)
        for (label, executor), seconds in zip(rows, times):
            target = f"≤ {TARGETS[name]} s" if name in TARGETS and (executor or not info.heavy) else ""
            ok = "" if not target else ("  ok" if seconds <= TARGETS[name] else "  over")
            print(f"  {info.title + label:<44}{passes:>16}{seconds:9.3f}{seconds / fwd_bwd:8.1f}   {target}{ok}")
    ig = attr.attribute(lite, cat, "integrated_gradients")
    print(f"  Integrated Gradients ({ig.options['steps']} steps, {ig.options['baseline']} baseline): completeness "
          f"error {ig.completeness_error:.1%} (map sums to {ig.map.sum():.3f}, score − baseline score {ig.gap:.3f})")

    print("\n  IG completeness error, 64 steps from black: captum's one Gauss-Legendre rule vs the page's two panels")
    net = explained_model.explained(lite)
    for name in ("chelsea (cat)", "coffee", "rocket", "astronaut", "flower", "motorcycle"):
        photo = images.sample_image(name)
        x1 = net.input(photo)
        ours = attr.attribute(lite, photo, "integrated_gradients", executor=pool)
        black = baselines.baseline(net, x1, "black")
        theirs = IntegratedGradients(lite.model).attribute(x1, baselines=black, target=ours.target, n_steps=64,
                                                           internal_batch_size=gradients.IG_BATCH)
        single = abs(float(theirs.sum()) - ours.gap) / abs(ours.gap)
        print(f"    {name:<16} {ours.label:<16} one rule {single:6.1%}   two panels {ours.completeness_error:6.1%}")

    print("\n  Occlusion, 32 px window, stride 16, 169 windows, in the same run:")
    default_batch = occlusion.OCCLUSION_BATCH
    variants = [(batch, label, executor) for batch in (16, 1, 64)
                for label, executor in ((f"{cores} workers", pool), ("1 core", None))]

    def run_occlusion(batch: int, executor) -> None:
        occlusion.OCCLUSION_BATCH = batch
        attr.attribute(lite, cat, "occlusion", executor=executor)

    times = interleaved([lambda b=b, e=e: run_occlusion(b, e) for b, _, e in variants], max(1, repeats // 2))
    occlusion.OCCLUSION_BATCH = default_batch
    for (batch, label, _), seconds in zip(variants, times):
        print(f"    perturbations per pass {batch:>3}, {label:<10} {seconds:7.3f} s  ratio {seconds / fwd_bwd:6.1f}")

    print("\n  All default methods side by side, as the page runs them (cheap ones in the script, heavy ones as")
    print("  background tasks sharing the worker pool):")
    walls, firsts = [], []
    for _ in range(max(1, repeats // 2)):
        start = time.perf_counter()
        for name, info in attr.METHODS.items():
            if not info.heavy:
                attr.attribute(lite, cat, name)
        firsts.append(time.perf_counter() - start)
        tasks = [threading.Thread(target=attr.attribute, args=(lite, cat, name), kwargs={"executor": pool})
                 for name, info in attr.METHODS.items() if info.heavy]
        for t in tasks:
            t.start()
        for t in tasks:
            t.join()
        walls.append(time.perf_counter() - start)
    print(f"    cheap maps on screen after {statistics.median(firsts):.2f} s; all seven after "
          f"{statistics.median(walls):.2f} s (target ≤ 6 s)")

    print("\n  Sanity checks (Grad-CAM):")
    cam = attr.attribute(lite, cat, "grad_cam")
    seconds = median_s(lambda: sanity_checks.model_randomization(lite, cat, "grad_cam", reference=cam), 1)
    print(f"    cascading randomization, 10 blocks     {seconds:7.2f} s")
    for label, executor in ((f"{cores} workers", pool), ("1 core", None)):
        seconds = median_s(lambda: sanity_checks.deletion_insertion(lite, cat, cam, executor=executor), 1)
        print(f"    deletion + insertion, 150 passes, {label:<8}{seconds:6.2f} s")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    pool.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
