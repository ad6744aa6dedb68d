"""Figures of the Transfer-learning page: training curves, run comparison, confusion matrix, top-k."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

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
        fig.update_xaxes(range=[0, total_epochs + 0.2])
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
    fig.update_layout(title=f"{nice} per epoch", xaxis_title="epoch", yaxis_title=nice, height=360,
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    if metric.endswith("acc"):
        fig.update_yaxes(range=[0, 1.02])
    return fig


def speed_accuracy(points: list[tuple[str, float, float]]) -> go.Figure:
    """Speed-accuracy trade-off: [(run label, training images/s, final validation accuracy)]."""
    fig = go.Figure(go.Scatter(x=[p[1] for p in points], y=[p[2] for p in points], mode="markers+text",
                               text=plain_all([p[0] for p in points]), textposition="top center",
                               marker=dict(size=12, color=_COLOURS[0])))
    fig.update_layout(title="speed vs accuracy", xaxis_title="training images per second (log)",
                      yaxis_title="final validation accuracy", xaxis_type="log", height=360,
                      margin=dict(l=10, r=10, t=50, b=10))
    fig.update_yaxes(range=[0, 1.08])
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
