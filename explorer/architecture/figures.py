"""Figures for the Architectures page: per-layer bars, training memory, and the model comparison.

Data in (profiles and frames from explorer.architecture.profiling / comparison / training_memory), figure out.
Memory is in binary units everywhere (KiB = 1,024 bytes, MiB = 1,024² bytes), as in the page's tables.
Charts are sized to read on a projector at 1280×720: no minor-tick digits, labels that do not overlap,
captions outside the plot (the page writes them under the chart).
Figures are plain dicts (`explorer.figures.raw`): as a go.Figure (make_subplots, every property validated) the
per-layer bars took 27 ms of CPU to build, as dicts 1 ms (bench/figures.py).
"""

from __future__ import annotations

import math

import pandas as pd

from explorer.figures.layout import LABEL_FONT, log_ticks, place_labels, to_px
from explorer.figures.raw import COLORWAY, RawFigure, colorscale, subplot_row, typed
from explorer.figures.safe_text import plain
from explorer.architecture.profiling import Profile

KIB, MIB = 1024, 1024 ** 2

_COLORS = {"memory": "#1f77b4", "params": "#ff7f0e", "macs": "#2ca02c"}


def per_layer_bars(frame: pd.DataFrame, label: str = "name", title: str = "") -> RawFigure:
    """Three horizontal bar charts side by side, one bar per row of `frame`, in execution order.

    Args:
        frame: `Profile.to_frame()` or `Profile.grouped()` (columns "activation bytes", "params", "MACs").
        label: the column naming each bar ("name" for layers, "group" for blocks).
    """
    labels = [f"{i:>3} {n}" for i, n in enumerate(frame[label])]  # unique, ordered labels
    layout = subplot_row(["activation memory<br>(KiB)", "parameters<br>(thousands)", "MACs<br>(millions)"], 0.02,
                         shared_y=True)  # on two lines: three titles side by side overlapped at 150% zoom
    data = []
    for col, (column, scale, key) in enumerate([("activation bytes", KIB, "memory"), ("params", 1e3, "params"),
                                                ("MACs", 1e6, "macs")], start=1):
        suffix = "" if col == 1 else str(col)
        data.append({"type": "bar", "y": labels, "x": typed(frame[column] / scale), "orientation": "h",
                     "marker": {"color": _COLORS[key]}, "name": column,
                     "hovertemplate": "%{y}: %{x:,.1f}<extra></extra>", "xaxis": "x" + suffix, "yaxis": "y" + suffix})
        # Categorical: Plotly strips spaces from "  0 0" and reads it as the number 0 (the builder's axis read 0…100).
        layout["yaxis" + suffix].update(type="category", autorange="reversed", tickfont={"size": 11})
    layout.update(title={"text": title}, showlegend=False, height=max(340, 17 * len(frame) + 140),
                  margin={"l": 10, "r": 10, "t": 104, "b": 10})
    return RawFigure({"data": data, "layout": layout})


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


def training_memory_bars(estimates: dict[str, dict[str, int]], batch_size: int) -> RawFigure:
    """Stacked bars, one per optimizer, of weights + gradients + optimizer state + activations (MiB).

    Args:
        estimates: optimizer -> `training_memory()` result.
    """
    parts = next(iter(estimates.values())).keys()
    data = [{"type": "bar", "x": list(estimates), "y": [estimates[opt][part] / MIB for opt in estimates], "name": part,
             "hovertemplate": part + ": %{y:,.1f} MiB<extra></extra>"} for part in parts]
    totals = [sum(e.values()) / MIB for e in estimates.values()]
    data.append({"type": "scatter", "x": list(estimates), "y": totals, "mode": "text",
                 "text": [f"{t:,.0f} MiB" for t in totals], "textposition": "top center", "textfont": {"size": 13},
                 "showlegend": False, "hoverinfo": "skip", "cliponaxis": False})
    layout = {"barmode": "stack", "title": {"text": f"Training memory at batch size {batch_size} (float32)"},
              "yaxis": {"title": {"text": "MiB"}, "range": [0, 1.15 * max(totals, default=1)]}, "height": 380,
              "margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "legend": {"traceorder": "reversed"},
              "colorway": COLORWAY}
    return RawFigure({"data": data, "layout": layout})


#: The smallest plot area the comparison chart gets (px): at 1280×720 with the sidebar open. Labels are placed
#: for this size; a wider chart only spreads the bubbles further apart.
BUBBLE_PLOT_PX = (560, 360)
BUBBLE_MAX_PX = 50  # diameter of the largest bubble


def accuracy_bubbles(table: pd.DataFrame) -> RawFigure:
    """ImageNet top-1 against GMACs (log axis, 1-2-5 ticks), bubble area proportional to parameters, each
    bubble labelled with its model's name where the label overlaps no other label or bubble."""
    data = table.dropna(subset=["ImageNet top-1 (%)"]).reset_index(drop=True)
    if data.empty:
        return RawFigure({"data": [], "layout": {"title": {"text": "No model with torchvision accuracy metadata selected"},
                                                 "height": 200}})
    gmacs, top1, params = data["MACs"] / 1e9, data["ImageNet top-1 (%)"].astype(float), data["params"]
    lx = [math.log10(v) for v in gmacs]
    x_range = [min(lx) - 0.25, max(lx) + 0.25]
    y_range = [float(top1.min()) - 5, float(top1.max()) + 5]
    size_ref = 2.0 * params.max() / BUBBLE_MAX_PX ** 2  # Plotly's rule for sizemode="area"
    radii = [BUBBLE_MAX_PX / 2 * math.sqrt(p / params.max()) for p in params]
    xy = to_px(lx, list(top1), x_range, y_range, BUBBLE_PLOT_PX)
    names = [plain(n) for n in data["model"]]
    offsets = place_labels(xy, [max(r, 4) for r in radii], list(data["model"]), BUBBLE_PLOT_PX)
    trace = {"type": "scatter", "x": typed(gmacs), "y": typed(top1), "mode": "markers", "text": names,
             "marker": {"size": typed(params), "sizemode": "area", "sizeref": size_ref, "sizemin": 4,
                        "color": typed(data["year"]), "colorscale": colorscale("Viridis"), "showscale": True,
                        "colorbar": {"title": {"text": "year"}, "tickformat": "d"}, "line": {"width": 1, "color": "white"}},
             "customdata": typed(params / 1e6),
             "hovertemplate": "%{text}<br>%{x:.2f} GMACs<br>top-1 %{y:.1f}%<br>%{customdata:.1f} M params<extra></extra>"}
    labels = [{"x": x, "y": float(y), "text": name, "showarrow": False, "xshift": dx, "yshift": dy,
               "font": {"size": LABEL_FONT, "color": "#222"}} for x, y, name, (dx, dy) in zip(lx, top1, names, offsets)]
    tickvals, ticktext = log_ticks(10 ** x_range[0], 10 ** x_range[1])
    layout = {"title": {"text": "Top-1 accuracy, compute and size (bubble area = parameters)"}, "annotations": labels,
              "xaxis": {"title": {"text": "GMACs per image (log scale)"}, "type": "log", "range": x_range,
                        "tickvals": tickvals, "ticktext": ticktext, "minor": {"showgrid": False, "ticks": ""}},
              "yaxis": {"title": {"text": "ImageNet top-1 (%)"}, "range": y_range}, "height": 480, "showlegend": False,
              "margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "font": {"size": 13}}
    return RawFigure({"data": [trace], "layout": layout})


def comparison_bars(table: pd.DataFrame) -> RawFigure:
    """Parameters, GMACs and activation memory (MiB) of each model, side by side."""
    layout = subplot_row(["parameters (M)", "GMACs", "activation memory (MiB)"], 0.03, shared_y=True)
    models = [plain(m) for m in table["model"]]
    data = []
    for col, (column, scale, key) in enumerate([("params", 1e6, "params"), ("MACs", 1e9, "macs"),
                                                ("activation bytes", MIB, "memory")], start=1):
        suffix = "" if col == 1 else str(col)
        data.append({"type": "bar", "y": models, "x": typed(table[column] / scale), "orientation": "h",
                     "marker": {"color": _COLORS[key]}, "hovertemplate": "%{y}: %{x:,.2f}<extra></extra>",
                     "xaxis": "x" + suffix, "yaxis": "y" + suffix})
        layout["yaxis" + suffix]["autorange"] = "reversed"
    layout.update(showlegend=False, height=max(300, 26 * len(table) + 100), margin={"l": 10, "r": 10, "t": 50, "b": 10},
                  font={"size": 13})
    return RawFigure({"data": data, "layout": layout})
