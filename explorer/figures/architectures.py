"""Figures for the Architectures page: per-layer bars, training memory, and the model comparison.

Data in (profiles and frames from explorer.profiling / comparison / training_memory), go.Figure out.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.profiling import CONVENTION, Profile

_COLORS = {"memory": "#1f77b4", "params": "#ff7f0e", "macs": "#2ca02c"}


def per_layer_bars(frame: pd.DataFrame, label: str = "name", title: str = "") -> go.Figure:
    """Three horizontal bar charts side by side, one bar per row of `frame`, in execution order.

    Args:
        frame: `Profile.to_frame()` or `Profile.grouped()` (columns "activation bytes", "params", "MACs").
        label: the column naming each bar ("name" for layers, "group" for blocks).
    """
    labels = [f"{i:>3} {n}" for i, n in enumerate(frame[label])]  # unique, ordered labels
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.02,
                        subplot_titles=("activation memory (KB)", "parameters (thousands)", "MACs (millions)"))
    for col, (column, scale, key) in enumerate([("activation bytes", 1024, "memory"), ("params", 1e3, "params"),
                                                ("MACs", 1e6, "macs")], start=1):
        fig.add_trace(go.Bar(y=labels, x=frame[column] / scale, orientation="h", marker_color=_COLORS[key],
                             name=column, hovertemplate="%{y}: %{x:,.1f}<extra></extra>"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=10))
    fig.update_layout(title=title, showlegend=False, height=max(320, 16 * len(frame) + 120),
                      margin=dict(l=10, r=10, t=70, b=10))
    return fig


def story(prof: Profile) -> str:
    """The lecture's three observations, stated for this model from its own numbers (markdown)."""
    frame = prof.to_frame()
    frame = frame[~frame["type"].str.startswith("(")]
    n = len(frame)
    quarter = max(1, n // 4)
    mem_total = max(1, prof.activation_bytes)
    early = frame["activation bytes"].iloc[:quarter].sum() / mem_total
    by_type = frame.groupby("type")[["params", "MACs"]].sum()
    p_type = by_type["params"].idxmax()
    p_share = by_type["params"].max() / max(1, prof.params)
    m_type = by_type["MACs"].idxmax()
    m_share = by_type["MACs"].max() / max(1, prof.macs)
    top_p = frame.loc[frame["params"].idxmax()]
    return (f"**Memory:** the first quarter of the layers ({quarter} of {n}) produce {early:.0%} of the activation "
            f"memory. **Parameters:** {p_type} layers hold {p_share:.0%} of them; the largest single layer is "
            f"`{top_p['name']}` with {top_p['params'] / max(1, prof.params):.0%}. **Compute:** {m_type} layers do "
            f"{m_share:.0%} of the multiply-adds.")


def training_memory_bars(estimates: dict[str, dict[str, int]], batch_size: int) -> go.Figure:
    """Stacked bars, one per optimizer, of weights + gradients + optimizer state + activations (MB).

    Args:
        estimates: optimizer -> `training_memory()` result.
    """
    fig = go.Figure()
    parts = next(iter(estimates.values())).keys()
    for part in parts:
        values = [estimates[opt][part] / 1e6 for opt in estimates]
        fig.add_trace(go.Bar(x=list(estimates), y=values, name=part,
                             hovertemplate=part + ": %{y:,.1f} MB<extra></extra>"))
    totals = [sum(e.values()) / 1e6 for e in estimates.values()]
    fig.add_trace(go.Scatter(x=list(estimates), y=totals, mode="text", text=[f"{t:,.0f} MB" for t in totals],
                             textposition="top center", showlegend=False, hoverinfo="skip"))
    fig.update_layout(barmode="stack", title=f"Training memory at batch size {batch_size} (float32)",
                      yaxis_title="MB", height=380, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def accuracy_bubbles(table: pd.DataFrame) -> go.Figure:
    """ImageNet top-1 against GMACs (log axis), bubble area proportional to parameters."""
    data = table.dropna(subset=["ImageNet top-1 (%)"])
    size_ref = 2.0 * data["params"].max() / (60 ** 2) if len(data) else 1
    fig = go.Figure(go.Scatter(
        x=data["MACs"] / 1e9, y=data["ImageNet top-1 (%)"], mode="markers+text", text=data["model"],
        textposition="top center", marker=dict(size=data["params"], sizemode="area", sizeref=size_ref, sizemin=4,
                                               color=data["year"], colorscale="Viridis", showscale=True,
                                               colorbar=dict(title="year")),
        customdata=data["params"] / 1e6,
        hovertemplate="%{text}<br>%{x:.2f} GMACs<br>top-1 %{y:.1f}%<br>%{customdata:.1f} M params<extra></extra>"))
    fig.update_layout(title="Top-1 accuracy, compute and size (bubble area = parameters)",
                      xaxis=dict(title="GMACs per image (log scale)", type="log"),
                      yaxis_title="ImageNet top-1 (%)", height=480, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def comparison_bars(table: pd.DataFrame) -> go.Figure:
    """Parameters, GMACs and activation memory of each model, side by side."""
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.02,
                        subplot_titles=("parameters (M)", "GMACs", "activation memory (MB)"))
    for col, (column, scale, key) in enumerate([("params", 1e6, "params"), ("MACs", 1e9, "macs"),
                                                ("activation bytes", 1e6, "memory")], start=1):
        fig.add_trace(go.Bar(y=table["model"], x=table[column] / scale, orientation="h",
                             marker_color=_COLORS[key]), row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False, height=max(300, 24 * len(table) + 100), margin=dict(l=10, r=10, t=50, b=10),
                      annotations=list(fig.layout.annotations) + [dict(
                          text=CONVENTION, showarrow=False, xref="paper", yref="paper", x=0, y=-0.08,
                          font=dict(size=10))])
    return fig
