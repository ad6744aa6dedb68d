"""Figures of the Transfer-learning page: training curves, run comparison, confusion matrix, top-k.

Figures are plain dicts (`explorer.figures.raw`): the live training curves, rebuilt on every refresh of the run's
view, took 23 ms of CPU to build as a go.Figure and take 0.1 ms as dicts (bench/figures.py).
"""

from __future__ import annotations

import math

import numpy as np

from explorer.figures.layout import LABEL_FONT, log_ticks, place_labels, to_px
from explorer.figures.raw import COLORWAY, RawFigure, colorscale, subplot_row, typed
from explorer.figures.safe_text import plain, plain_all

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def training_curves(epochs: list[dict], batches: list[dict], title: str = "", total_epochs: int | None = None) -> RawFigure:
    """Loss (left) and accuracy (right) of one run.

    Args:
        epochs: per-epoch metrics dicts (train_loss, train_acc, val_loss, val_acc at x = epoch).
        batches: per-batch dicts (running train_loss / train_acc within the epoch), drawn as a thin
            line at fractional epochs x = epoch - 1 + step / steps.
        total_epochs: fixes the x range to [0, total_epochs] so the chart does not jump while it grows.
    """
    layout = subplot_row(["loss (cross-entropy)", "accuracy"])
    xb = [b["epoch"] - 1 + b["step"] / b["steps"] for b in batches]
    xe = [e["epoch"] for e in epochs]
    data = []
    for col, key in ((1, "loss"), (2, "acc")):
        show, suffix = col == 1, "" if col == 1 else str(col)
        axes = {"xaxis": "x" + suffix, "yaxis": "y" + suffix}
        data += [
            {"type": "scatter", "x": xb, "y": [b[f"train_{key}"] for b in batches], "mode": "lines",
             "name": "train (within epoch)", "line": {"color": _COLOURS[0], "width": 1}, "opacity": 0.45,
             "showlegend": show, "legendgroup": "tb", **axes},
            {"type": "scatter", "x": xe, "y": [e[f"train_{key}"] for e in epochs], "mode": "lines+markers",
             "name": "train", "line": {"color": _COLOURS[0]}, "showlegend": show, "legendgroup": "t", **axes},
            {"type": "scatter", "x": xe, "y": [e[f"val_{key}"] for e in epochs], "mode": "lines+markers",
             "name": "validation", "line": {"color": _COLOURS[1]}, "showlegend": show, "legendgroup": "v", **axes}]
        if total_epochs:  # whole epochs
            layout["xaxis" + suffix].update(range=[0, total_epochs + 0.2], dtick=max(1, math.ceil(total_epochs / 10)))
        layout["xaxis" + suffix]["title"] = {"text": "epoch"}
    layout["yaxis2"]["range"] = [0, 1.02]
    layout.update(title={"text": plain(title)}, height=330, margin={"l": 10, "r": 10, "t": 60, "b": 10},
                  legend={"orientation": "h", "y": -0.25})
    return RawFigure({"data": data, "layout": layout})


def compare_runs(runs: list[tuple[str, list[dict]]], metric: str = "val_acc") -> RawFigure:
    """One line per run of `metric` per epoch: [(run label, epoch metrics dicts)]."""
    data = [{"type": "scatter", "x": [e["epoch"] for e in epochs], "y": [e[metric] for e in epochs],
             "mode": "lines+markers", "name": plain(label), "line": {"color": _COLOURS[i % len(_COLOURS)]}}
            for i, (label, epochs) in enumerate(runs)]
    nice = {"val_acc": "validation accuracy", "train_acc": "training accuracy", "val_loss": "validation loss",
            "train_loss": "training loss"}.get(metric, metric)
    last = max((len(epochs) for _, epochs in runs), default=1)
    layout = {"title": {"text": f"{nice} per epoch"},
              "xaxis": {"title": {"text": "epoch"}, "dtick": max(1, math.ceil(last / 10))},  # whole epochs only
              "yaxis": {"title": {"text": nice}}, "height": 360, "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
              "legend": {"orientation": "h", "y": -0.25}}
    if metric.endswith("acc"):
        layout["yaxis"]["range"] = [0, 1.02]
    return RawFigure({"data": data, "layout": layout})


#: The smallest plot area the speed-accuracy chart gets (px): its column at 1280×720 with the sidebar open.
SPEED_PLOT_PX = (260, 250)


def speed_accuracy(points: list[tuple[str, float, float]]) -> RawFigure:
    """Speed-accuracy trade-off: [(run label, training images/s end to end, final validation accuracy)],
    on a log axis with 1-2-5 ticks, each point labelled where its label overlaps no other."""
    if not points:
        return RawFigure({"data": [], "layout": {}})
    lx = [math.log10(max(p[1], 1e-3)) for p in points]
    x_range = [min(lx) - 0.3, max(lx) + 0.3]
    y_range = [0.0, 1.08]
    raw = [p[0] for p in points]
    texts = plain_all(raw)  # run labels may carry user text: drawn literally
    offsets = place_labels(to_px(lx, [p[2] for p in points], x_range, y_range, SPEED_PLOT_PX), [6] * len(points),
                           raw, SPEED_PLOT_PX)
    data = [{"type": "scatter", "x": [p[1] for p in points], "y": [p[2] for p in points], "mode": "markers",
             "text": texts, "marker": {"size": 12, "color": _COLOURS[0]},
             "hovertemplate": "%{text}<br>%{x:,.0f} images/s<br>accuracy %{y:.1%}<extra></extra>"}]
    labels = [{"x": x, "y": acc, "text": text, "showarrow": False, "xshift": dx, "yshift": dy,
               "font": {"size": LABEL_FONT, "color": "#222"}}
              for x, (_, _, acc), text, (dx, dy) in zip(lx, points, texts, offsets)]
    tickvals, ticktext = log_ticks(10 ** x_range[0], 10 ** x_range[1])
    layout = {"annotations": labels, "title": {"text": "speed (end to end) vs accuracy"},
              "yaxis": {"title": {"text": "final validation accuracy"}, "range": y_range}, "height": 360,
              "xaxis": {"title": {"text": "training images/s (log)"}, "type": "log",
                        "range": x_range, "tickvals": tickvals, "ticktext": ticktext,
                        "minor": {"ticks": "", "showgrid": False}},
              "margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "showlegend": False}
    return RawFigure({"data": data, "layout": layout})


def confusion_matrix(confusion: np.ndarray, classes: list[str]) -> RawFigure:
    """Heatmap of counts: row = true class, column = predicted class (class names drawn literally)."""
    names = plain_all(classes)
    counts = typed(confusion)
    data = [{"type": "heatmap", "z": counts, "x": names, "y": names, "colorscale": colorscale("Blues"), "text": counts,
             "texttemplate": "%{text}", "hovertemplate": "true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>",
             "showscale": False}]
    layout = {"title": {"text": "confusion matrix (validation)"},
              "xaxis": {"title": {"text": "predicted"}, "type": "category"},
              "yaxis": {"title": {"text": "true"}, "autorange": "reversed", "type": "category"},
              "height": min(600, 140 + 40 * len(classes)), "margin": {"l": 10, "r": 10, "t": 50, "b": 10}}
    return RawFigure({"data": data, "layout": layout})


def top_k(pairs: list[tuple[str, float]], title: str) -> RawFigure:
    """Horizontal bars of [(class, probability)], highest on top; class names and title drawn literally."""
    data = [{"type": "bar", "x": [p for _, p in pairs][::-1], "y": plain_all([c for c, _ in pairs][::-1]),
             "orientation": "h", "text": [f"{p:.1%}" for _, p in pairs][::-1], "textposition": "auto"}]
    layout = {"title": {"text": plain(title)}, "xaxis": {"title": {"text": "probability"}, "range": [0, 1]},
              "yaxis": {"type": "category"}, "height": 80 + 40 * len(pairs),
              "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "colorway": COLORWAY}
    return RawFigure({"data": data, "layout": layout})
