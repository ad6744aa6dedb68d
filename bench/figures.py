"""Benchmark of the figure builders of the Attributions, Filters, Architectures and Transfer pages (issue 17).

Every page rerun builds its figures (or takes them from a server-wide cache) and `st.plotly_chart`
serialises each one again: `plotly.tools.return_figure_from_figure_or_data(fig, True)` (for a go.Figure,
`to_dict()`: a deep copy and a walk of the whole figure) then `plotly.io.to_json(..., validate=False)`.
For each builder, on inputs the size of the page's defaults (random numbers, no weights needed), this prints
the median CPU time of 20 builds and of 20 serialisations, and the JSON payload in bytes. Streamlit's
Plotly template is installed first, as in the app, so a go.Figure costs here what it costs there.
Run: `.venv/bin/python bench/figures.py [repeats]`; copied into an older checkout, it measures that one.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import plotly.io as pio  # noqa: E402
import plotly.tools  # noqa: E402
import torch  # noqa: E402
from streamlit.elements.lib.streamlit_plotly_theme import configure_streamlit_plotly_theme  # noqa: E402

from explorer.architecture import comparison, figures as arch  # noqa: E402
from explorer.architecture.training_memory import OPTIMIZER_STATES, training_memory  # noqa: E402
from explorer.attribution import figures as attr  # noqa: E402
from explorer.attribution.sanity_checks import DeletionInsertion, RandomizationStep  # noqa: E402
from explorer.filters import feature_figures as ffig, kernel_figures as kfig  # noqa: E402
from explorer.filters.kernels import KERNELS  # noqa: E402
from explorer.training import figures as train  # noqa: E402

COMPARED = ["alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0",
            "efficientnet_lite0"]  # the Architectures page's default selection


def builders() -> dict[str, Callable[[], object]]:
    """Builder name -> a call of it on page-sized inputs."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    pixels = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    heat = rng.normal(size=(224, 224)).astype(np.float32)
    blocks = [f"features.{i}" for i in range(9, 0, -1)] + ["classifier"]
    steps = [RandomizationStep(b, float(rho), rng.normal(size=(224, 224)).astype(np.float32))
             for b, rho in zip(blocks, np.linspace(0.9, 0.0, len(blocks)))]
    fractions = np.linspace(0, 1, 25)
    curves = {(k, o): rng.random(25) for k in ("deletion", "insertion") for o in ("map", "inverse", "random")}
    top = [("espresso", 0.95), ("cup", 0.013), ("consomme", 0.008), ("chocolate sauce", 0.004), ("coffee mug", 0.003)]
    maps = torch.randn(40, 28, 28)
    prof = comparison.profile_model("resnet18")
    table = comparison.compare(COMPARED)
    memory = {opt: training_memory(prof, opt, 32) for opt in OPTIMIZER_STATES}
    epochs = [{"epoch": e, "train_loss": 1 / e, "train_acc": 1 - 0.5 / e, "val_loss": 1.1 / e, "val_acc": 1 - 0.6 / e}
              for e in range(1, 11)]
    batches = [{"epoch": e, "step": s, "steps": 20, "train_loss": 1 / e, "train_acc": 1 - 0.5 / e}
               for e in range(1, 11) for s in range(1, 21)]
    runs = [(f"#{i} resnet18", epochs) for i in range(1, 5)]
    classes = [f"class {i}" for i in range(10)]
    return {
        "attribution map_figure": lambda: attr.map_figure(pixels, heat, True, "Saliency (gradient)", "∂logit/∂pixel"),
        "attribution randomization_figure": lambda: attr.randomization_figure(pixels, heat, steps, "Grad-CAM"),
        "attribution randomization_curves": lambda: attr.randomization_curves(
            {m: steps for m in ("Grad-CAM", "Saliency", "Guided Grad-CAM")}, 0.5),
        "attribution deletion_insertion_figure": lambda: attr.deletion_insertion_figure(
            DeletionInsertion(fractions, curves, "grad_cam"), "Grad-CAM", "espresso"),
        "attribution top_classes": lambda: attr.top_classes(top, "Lite0: top 5", 0),
        "filters filter_grid": lambda: ffig.filter_grid(torch.randn(32, 3, 3, 3), "features.0.conv"),
        "filters filter_slices": lambda: ffig.filter_slices(torch.randn(96, 3, 3), "features.3", 0),
        "filters depthwise_filters": lambda: ffig.depthwise_filters(torch.randn(96, 1, 3, 3), "features.2"),
        "filters feature_grid": lambda: ffig.feature_grid(maps, list(range(32)), "features.3", pixels),
        "filters channel_figure": lambda: ffig.channel_figure(maps[0], "features.3", 0, pixels),
        "filters top5_figure": lambda: ffig.top5_figure(top, "Lite0: top-5 on chelsea"),
        "filters kernel_figure": lambda: kfig.kernel_figure(next(iter(KERNELS.values())), "3×3 kernel"),
        "architecture per_layer_bars": lambda: arch.per_layer_bars(prof.to_frame(), "name", "ResNet-18: per layer"),
        "architecture training_memory_bars": lambda: arch.training_memory_bars(memory, 32),
        "architecture accuracy_bubbles": lambda: arch.accuracy_bubbles(table),
        "architecture comparison_bars": lambda: arch.comparison_bars(table),
        "training training_curves": lambda: train.training_curves(epochs, batches, total_epochs=10),
        "training compare_runs": lambda: train.compare_runs(runs),
        "training speed_accuracy": lambda: train.speed_accuracy([(label, 100.0 * i, 0.8) for i, (label, _) in
                                                                 enumerate(runs, start=1)]),
        "training confusion_matrix": lambda: train.confusion_matrix(rng.integers(0, 20, (10, 10)), classes),
        "training top_k": lambda: train.top_k(top, "prediction for my_cat.jpg"),
    }


def serialise(fig: object) -> str:
    """The figure's JSON as st.plotly_chart makes it."""
    return pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, True), validate=False)


def median_cpu_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median CPU time of `fn()` in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000


def main(repeats: int = 20) -> None:
    configure_streamlit_plotly_theme()  # what importing streamlit does in the app: go.Figures carry its template
    torch.set_num_threads(1)
    print(f"Figure builders: median CPU ms of {repeats} runs (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores)")
    print(f"{'builder':<40} {'build':>8} {'serialise':>10} {'total':>8} {'payload B':>11}")
    totals = [0.0, 0.0]
    for name, build in builders().items():
        fig = build()
        build_ms = median_cpu_ms(build, repeats)
        json_ms = median_cpu_ms(lambda: serialise(fig), repeats)
        totals[0] += build_ms
        totals[1] += json_ms
        print(f"{name:<40} {build_ms:8.2f} {json_ms:10.2f} {build_ms + json_ms:8.2f} {len(serialise(fig)):>11,}")
    print(f"{'all of them':<40} {totals[0]:8.2f} {totals[1]:10.2f} {sum(totals):8.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
