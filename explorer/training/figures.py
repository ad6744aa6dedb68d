"""Figures of the Transfer-learning page: training curves, run comparison, confusion matrix, top-k."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.figures.layout import LABEL_FONT, log_ticks, place_labels, to_px
from explorer.figures.safe_text import plain, plain_all

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def training_curves(epochs: list[dict], batches: list[dict], title: str = "", total_epochs: int | None = None) -> go.Figure:
    """Loss (left) and accuracy (right) of one run.

    Args:
        epochs: per-epoch metrics dicts (train_loss, train_acc, val_loss, val_acc at x = epoch).
        batches: per-batch dicts (running train_loss / train_acc within the epoch), drawn as a thin
            line at fractional epochs x = epoch - 1 + step / steps.
        total_epochs: fixes the x range to [0, total_epochs] so the chart does not jump while it grows.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss (cross-entropy)", "accuracy"))
    xb = [b["epoch"] - 1 + b["step"] / b["steps"] for b in batches]
    xe = [e["epoch"] for e in epochs]
    for col, key in ((1, "loss"), (2, "acc")):
        show = col == 1
        fig.add_trace(go.Scatter(x=xb, y=[b[f"train_{key}"] for b in batches], mode="lines", name="train (within epoch)",
                                 line=dict(color=_COLOURS[0], width=1), opacity=0.45, showlegend=show,
                                 legendgroup="tb"), 1, col)
        fig.add_trace(go.Scatter(x=xe, y=[e[f"train_{key}"] for e in epochs], mode="lines+markers", name="train",
                                 line=dict(color=_COLOURS[0]), showlegend=show, legendgroup="t"), 1, col)
        fig.add_trace(go.Scatter(x=xe, y=[e[f"val_{key}"] for e in epochs], mode="lines+markers", name="validation",
                                 line=dict(color=_COLOURS[1]), showlegend=show, legendgroup="v"), 1, col)
    if total_epochs:
        fig.update_xaxes(range=[0, total_epochs + 0.2], dtick=max(1, math.ceil(total_epochs / 10)))  # whole epochs
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(title=plain(title), height=330, margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def compare_runs(runs: list[tuple[str, list[dict]]], metric: str = "val_acc") -> go.Figure:
    """One line per run of `metric` per epoch: [(run label, epoch metrics dicts)]."""
    fig = go.Figure()
    for i, (label, epochs) in enumerate(runs):
        fig.add_trace(go.Scatter(x=[e["epoch"] for e in epochs], y=[e[metric] for e in epochs], mode="lines+markers",
                                 name=plain(label), line=dict(color=_COLOURS[i % len(_COLOURS)])))
    nice = {"val_acc": "validation accuracy", "train_acc": "training accuracy", "val_loss": "validation loss",
            "train_loss": "training loss"}.get(metric, metric)
    last = max((len(epochs) for _, epochs in runs), default=1)
    fig.update_layout(title=f"{nice} per epoch", xaxis_title="epoch", yaxis_title=nice, height=360,
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(dtick=max(1, math.ceil(last / 10)))  # whole epochs only
    if metric.endswith("acc"):
        fig.update_yaxes(range=[0, 1.02])
    return fig


#: The smallest plot area the speed-accuracy chart gets (px): its column at 1280×720 with the sidebar open.
SPEED_PLOT_PX = (260, 250)


def speed_accuracy(points: list[tuple[str, float, float]]) -> go.Figure:
    """Speed-accuracy trade-off: [(run label, training images/s end to end, final validation accuracy)],
    on a log axis with 1-2-5 ticks, each point labelled where its label overlaps no other."""
    fig = go.Figure()
    if not points:
        return fig
    lx = [math.log10(max(p[1], 1e-3)) for p in points]
    x_range = [min(lx) - 0.3, max(lx) + 0.3]
    y_range = [0.0, 1.08]
    raw = [p[0] for p in points]
    texts = plain_all(raw)  # run labels may carry user text: drawn literally
    offsets = place_labels(to_px(lx, [p[2] for p in points], x_range, y_range, SPEED_PLOT_PX), [6] * len(points),
                           raw, SPEED_PLOT_PX)
    fig.add_trace(go.Scatter(x=[p[1] for p in points], y=[p[2] for p in points], mode="markers", text=texts,
                             marker=dict(size=12, color=_COLOURS[0]),
                             hovertemplate="%{text}<br>%{x:,.0f} images/s<br>accuracy %{y:.1%}<extra></extra>"))
    for x, (_, _, acc), text, (dx, dy) in zip(lx, points, texts, offsets):
        fig.add_annotation(x=x, y=acc, text=text, showarrow=False, xshift=dx, yshift=dy,
                           font=dict(size=LABEL_FONT, color="#222"))
    tickvals, ticktext = log_ticks(10 ** x_range[0], 10 ** x_range[1])
    fig.update_layout(title="speed vs accuracy", yaxis_title="final validation accuracy", height=360,
                      xaxis=dict(title="training images per second, end to end (log)", type="log", range=x_range,
                                 tickvals=tickvals, ticktext=ticktext, minor=dict(ticks="", showgrid=False)),
                      margin=dict(l=10, r=10, t=50, b=10), showlegend=False)
    fig.update_yaxes(range=y_range)
    return fig


def confusion_matrix(confusion: np.ndarray, classes: list[str]) -> go.Figure:
    """Heatmap of counts: row = true class, column = predicted class (class names drawn literally)."""
    names = plain_all(classes)
    fig = go.Figure(go.Heatmap(z=confusion, x=names, y=names, colorscale="Blues", text=confusion,
                               texttemplate="%{text}", hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images"
                               "<extra></extra>", showscale=False))
    side = min(600, 140 + 40 * len(classes))
    fig.update_layout(title="confusion matrix (validation)", xaxis_title="predicted", yaxis_title="true",
                      yaxis_autorange="reversed", height=side, margin=dict(l=10, r=10, t=50, b=10))
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def top_k(pairs: list[tuple[str, float]], title: str) -> go.Figure:
    """Horizontal bars of [(class, probability)], highest on top; class names and title drawn literally."""
    fig = go.Figure(go.Bar(x=[p for _, p in pairs][::-1], y=plain_all([c for c, _ in pairs][::-1]), orientation="h",
                           text=[f"{p:.1%}" for _, p in pairs][::-1], textposition="auto"))
    fig.update_layout(title=plain(title), xaxis_title="probability", xaxis_range=[0, 1], height=80 + 40 * len(pairs),
                      margin=dict(l=10, r=10, t=40, b=10))
    fig.update_yaxes(type="category")
    return fig
