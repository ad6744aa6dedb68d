"""Plotly figures of the convolution-arithmetic page: the animated sliding window and the multi-channel view.

The animation runs in the browser: one plotly frame per output cell, and each frame carries only what
changes (the window outlines, the weight subscripts' positions, a 6-point polygon hiding the output
cells not computed yet, the current cell and its written-out computation), so the payload stays small.
Figures are built from plain dicts without plotly's per-object validation (it would cost ~100× more).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.convolution import arithmetic as ca
from explorer.convolution.worked_example import INPUT, MAX, TCONV, Lab
from explorer.figures.layout import wrap_line
from explorer.figures.raw import RawFigure

UNCOVERED, OUTPUT = 3, 4
KIND_COLOURS = ["#cfe3f7", "#e6e6e6", "#fff1bf", "#ffb26b", "#d3efd3"]  # input, padding, inserted, uncovered, output
KIND_SCALE = [[i / 4, c] for i, c in enumerate(KIND_COLOURS)]
PANEL_SCALES = {"blue": [[0, "#f7fbff"], [1, "#6baed6"]], "green": [[0, "#f7fcf5"], [1, "#74c476"]],
                "div": [[0, "#6baed6"], [0.5, "#ffffff"], [1, "#fb6a4a"]]}  # light, so the numbers stay readable
MAX_FRAMES = 1200  # beyond this the animation covers the first MAX_FRAMES output cells (the maps show all)
FRAME_BYTES = 600_000  # the animation's frames stay under this many bytes of JSON (the browser parses them all)
MIN_TEXT_PX = 18  # cells narrower than this show no numbers (hover shows them): unreadable, and slow to draw
MAX_SLIDER_STEPS = 64  # the slider jumps to at most this many cells (each step is drawn as a tick and a label)
CHART_PX = 860  # the chart's width beside the sidebar
GAP_CELLS = 1.6  # space between two grids, in cells
SPEEDS = {"slow": 900, "normal": 400, "fast": 120}  # ms per step


#: Terms of a written-out sum per line: five fit a grid drawn at 150% zoom (9 ran past the chart's right edge).
TERMS_PER_LINE = 5


def _wrap(text: str, per_line: int = TERMS_PER_LINE) -> str:
    """Break long sums after every `per_line` terms (plotly text needs explicit <br>)."""
    lines = []
    for line in text.split("\n"):
        terms = line.split(" + ")
        chunks = [" + ".join(terms[i:i + per_line]) for i in range(0, len(terms), per_line)]
        lines.append(" +<br>   ".join(chunks))
    return "<br>".join(lines)


STILL = {"frame": {"duration": 0}, "mode": "immediate", "transition": {"duration": 0}}


def _play(ms: int) -> list:
    return [None, {"frame": {"duration": ms, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0},
                   "mode": "immediate"}]


def _step_buttons(prev: str, nxt: str) -> list[dict]:
    """The two step buttons point at the neighbouring frames; every frame rewrites them (menu 2)."""
    return [{"label": "◀ step", "method": "animate", "args": [[prev], STILL]},
            {"label": "step ▶", "method": "animate", "args": [[nxt], STILL]}]


def _menus(n_steps: int) -> list[dict]:
    """Menu 0: start / play / pause; menu 1: speed (each choice plays at that speed); menu 2: step buttons."""
    common = {"y": 1.0, "xanchor": "left", "yanchor": "bottom", "pad": {"t": 0, "r": 4}}
    return [
        {**common, "type": "buttons", "direction": "left", "x": 0.0, "showactive": False, "buttons": [
            {"label": "◀◀ start", "method": "animate", "args": [["0"], STILL]},
            {"label": "▶ play", "method": "animate", "args": _play(SPEEDS["normal"])},
            {"label": "■ pause", "method": "animate", "args": [[None], STILL]}]},
        {**common, "type": "dropdown", "direction": "down", "x": 1.0, "xanchor": "right", "showactive": True, "active": 1,
         "buttons": [{"label": f"speed: {name} ({ms} ms/step)", "method": "animate", "args": _play(ms)}
                     for name, ms in SPEEDS.items()]},
        {**common, "type": "buttons", "direction": "left", "x": 0.5, "xanchor": "center", "showactive": False,
         "buttons": _step_buttons("0", "1" if n_steps > 1 else "0")},
    ]


def _layout_width(lab: Lab) -> float:
    """Width of the sliding-window chart in cells: every channel grid, the gaps, the output grid."""
    gw, ow = lab.grid.shape[2], lab.out.shape[2]
    n_grids = 1 if lab.pooling else lab.s.cin
    return n_grids * (gw + GAP_CELLS) + 1.0 + ow


def _input_title(lab: Lab, ch: int, pitch_px: float) -> str:
    """The title over input channel `ch`, in fewer words when the long one is wider than its grid.

    Font size 12 averages about 6.6 px per character; `pitch_px` is the grid's width plus the gap.
    """
    s = lab.s
    if s.op == TCONV:
        around = (f"D·(K−1)−P = {lab.offset} around" if lab.offset >= 0
                  else f"cropped by P−D·(K−1) = {-lab.offset} each side")
        long = (f"<b>INPUT</b> channel {ch + 1} ({s.h}×{s.w}), stretched:<br>{s.stride - 1} zero(s) between cells, "
                + around)
        short_around = f"{lab.offset} around" if lab.offset >= 0 else f"cropped {-lab.offset}"
        short = f"<b>INPUT</b> ch. {ch + 1} ({s.h}×{s.w})<br>+{s.stride - 1} zeros between, {short_around}"
    else:
        long = f"<b>INPUT</b> channel {ch + 1} ({s.h}×{s.w})" + (f", padding {lab.padding}" if lab.padding else "")
        short = f"<b>INPUT</b> ch. {ch + 1} ({s.h}×{s.w})" + (f", pad {lab.padding}" if lab.padding else "")
    widest = max(len(line.replace("<b>", "").replace("</b>", "")) for line in long.split("<br>"))
    return long if widest * 6.6 <= pitch_px else short


def cell_pixels(lab: Lab) -> float:
    """Side of one drawn cell in pixels (at most 44): every grid side by side fills the chart's width."""
    return min(44.0, CHART_PX / (_layout_width(lab) + 1.2))


def numbers_shown(lab: Lab) -> bool:
    """True when the cells are large enough to print their values (else hovering a cell shows it)."""
    return cell_pixels(lab) >= MIN_TEXT_PX


def max_frames(lab: Lab) -> int:
    """How many output cells the animation covers: all of them unless the frames would pass `FRAME_BYTES`.

    A frame carries the window's outline (one rectangle per channel, or one square per covered
    cell when dilated), the weights' positions (when numbers are shown) and the written-out sum:
    about 12 bytes per coordinate pair and 9 per term.
    """
    s = lab.s
    channels = 1 if lab.pooling else s.cin
    window_points = 6 * channels if s.dilation == 1 else channels * s.k ** 2
    per_frame = 350 + 12 * window_points + 9 * channels * s.k ** 2
    if numbers_shown(lab) and not lab.pooling:
        per_frame += 12 * channels * s.k ** 2
    return max(1, min(MAX_FRAMES, len(lab.steps), FRAME_BYTES // per_frame))


def _str_grid(a: np.ndarray) -> np.ndarray:
    """Numbers -> an object array of their display strings (each distinct value formatted once)."""
    uniq, inv = np.unique(a, return_inverse=True)
    names = np.array(["−∞" if v == -np.inf else ca.fmt(v) for v in uniq], dtype=object)
    return names[inv].reshape(a.shape)


def computation_texts(lab: Lab, steps: list[ca.Step]) -> list[str]:
    """For each step, 'output (r, c): <the written-out computation>' with <br> line breaks.

    Same text as `conv_arithmetic.cell_computation`, vectorised over the steps (tests check both agree).
    """
    s = lab.s
    f = s.filt - 1
    if not steps:
        return []
    chans = [f] if lab.pooling else list(range(s.cin))
    rows_k = np.array([st.rows for st in steps])
    cols_k = np.array([st.cols for st in steps])
    grid = lab.grid[chans]
    win = grid[:, rows_k[:, :, None], cols_k[:, None, :]].reshape(len(chans), len(steps), -1)  # [nc, N, K²]
    wstr = _str_grid(grid)[:, rows_k[:, :, None], cols_k[:, None, :]].reshape(win.shape)
    heads = [f"output ({st.out_row + 1}, {st.out_col + 1}): " for st in steps]
    if lab.pooling:
        res = _str_grid(win.max(axis=2) if s.op == MAX else win.mean(axis=2))[0]
        if s.op == MAX:
            body = ["max(" + ", ".join(w) + ") = " + r for w, r in zip(wstr[0], res)]
        else:
            body = ["(" + " + ".join(w) + f") / {win.shape[2]} = " + r for w, r in zip(wstr[0], res)]
        return [h + _wrap(b) for h, b in zip(heads, body)]
    kw = lab.window_kernels[f].reshape(s.cin, -1)
    kstr = np.array([["·(" + t + ")" if t.startswith("−") else "·" + t for t in map(ca.fmt, k)] for k in kw], dtype=object)
    terms = wstr + kstr[:, None, :]  # [nc, N, K²] 'value·weight'
    parts = np.einsum("cnk,ck->cn", win, kw)
    bias = float(lab.bias[f])
    total = _str_grid(parts.sum(axis=0) + bias)
    pstr = _str_grid(parts)
    bstr = ca.fmt(bias)
    tl, pl, tot = terms.tolist(), pstr.T.tolist(), total.tolist()  # python lists: much faster to join

    def line(ts: list[str]) -> str:  # same breaks as _wrap
        n = TERMS_PER_LINE
        return " +<br>   ".join(" + ".join(ts[j:j + n]) for j in range(0, len(ts), n))

    out = []
    for i, h in enumerate(heads):
        if s.cin == 1:
            out.append(h + line(tl[0][i] + [f"{bstr} = {tot[i]}"]))
        else:
            lines = [line([f"channel {c + 1}: " + tl[c][i][0], *tl[c][i][1:-1], tl[c][i][-1] + f" = {pl[i][c]}"]
                          if len(tl[c][i]) > 1 else [f"channel {c + 1}: " + tl[c][i][0] + f" = {pl[i][c]}"])
                     for c in range(s.cin)]
            lines.append(line(["total: " + pl[i][0], *pl[i][1:], f"{bstr} (bias) = {tot[i]}"]))
            out.append(h + "<br>" + "<br>".join(lines))
    return out


def sliding_window_figure(lab: Lab) -> go.Figure:
    """The animated numeric view of output map `lab.s.filt`: input grid(s), window, weights, output.

    Frames are named "0".."N−1" (N output cells, at most MAX_FRAMES) in raster order of the output.
    """
    s = lab.s
    f = s.filt - 1
    chans = [f] if lab.pooling else list(range(s.cin))
    gh, gw = lab.grid.shape[1:]
    oh, ow = lab.out.shape[1:]
    offs = [i * (gw + GAP_CELLS) for i in range(len(chans))]
    oxo = len(chans) * (gw + GAP_CELLS) + 1.0  # x of the output grid's first column
    total_w = oxo + ow

    kinds = lab.kinds.copy()
    for r in lab.uncovered_rows:
        kinds[r, :] = UNCOVERED
    for c in lab.uncovered_cols:
        kinds[:, c] = UNCOVERED
    cell_px = cell_pixels(lab)
    numbers = numbers_shown(lab)
    font = int(max(8, min(14, cell_px * 0.42)))
    data: list[dict] = []
    line = 1 if cell_px >= 6 else 0  # white lines between cells, unless they would hide the cells' colours
    hm = {"type": "heatmap", "colorscale": KIND_SCALE, "zmin": 0, "zmax": 4, "showscale": False, "xgap": line,
          "ygap": line, "dx": 1, "dy": 1, "y0": 0}
    # Values: printed in each cell when it is large enough (padding and inserted zeros in grey), else
    # shown on hover. Thousands of SVG texts took Chromium tens of seconds to draw (issue 10).
    for off, ch in zip(offs, chans):
        grid = {**hm, "z": kinds.tolist(), "x0": off, "hoverinfo": "skip"}
        if not numbers:
            grid.update(text=_str_grid(lab.grid[ch]).tolist(), hovertemplate="%{text}<extra></extra>")
            del grid["hoverinfo"]
        data.append(grid)
    out_text = _str_grid(lab.out[f])
    data.append({**hm, "z": np.full((oh, ow), OUTPUT).tolist(), "x0": oxo, "text": out_text.tolist(),
                 "hovertemplate": "output %{text}<extra></extra>"})
    if numbers:
        rr, cc = np.mgrid[0:gh, 0:gw]
        xs, ys, txt, col = [], [], [], []
        for off, ch in zip(offs, chans):
            xs += (cc.ravel() + off).tolist()
            ys += rr.ravel().tolist()
            txt += _str_grid(lab.grid[ch]).ravel().tolist()
            col += ["#111" if k == INPUT else "#8a8a8a" for k in lab.kinds.ravel()]
        data.append({"type": "scatter", "mode": "text", "x": xs, "y": ys, "text": txt, "hoverinfo": "skip",
                     "textfont": {"size": font, "color": col}, "showlegend": False})
        orr, occ = np.mgrid[0:oh, 0:ow]
        data.append({"type": "scatter", "mode": "text", "x": (occ.ravel() + oxo).tolist(), "y": orr.ravel().tolist(),
                     "text": out_text.ravel().tolist(), "textfont": {"size": font, "color": "#0b4d0b"},
                     "hoverinfo": "skip", "showlegend": False})

    steps = lab.steps[:max_frames(lab)]
    kw = lab.window_kernels[f]  # [C_in, K, K] (pooling: unused)
    dyn = len(data)
    # Dynamic traces: window, subscripts, output cover, current output cell, computation text.
    sub_text = [ca.fmt(v) for ch in chans for v in kw[ch].ravel()] if numbers and not lab.pooling else []
    data += [
        {"type": "scatter", "mode": "lines", "fill": "toself", "fillcolor": "rgba(20,50,110,0.28)",
         "line": {"color": "#14326e", "width": 2}, "hoverinfo": "skip", "showlegend": False} if s.dilation == 1 else
        {"type": "scatter", "mode": "markers", "hoverinfo": "skip", "showlegend": False,
         "marker": {"symbol": "square", "size": cell_px, "color": "rgba(20,50,110,0.28)",
                    "line": {"color": "#14326e", "width": 1.5}}},
        {"type": "scatter", "mode": "text", "text": sub_text, "hoverinfo": "skip", "showlegend": False,
         "textfont": {"size": max(7, font - 3), "color": "#c0392b"}},
        {"type": "scatter", "mode": "lines", "fill": "toself", "fillcolor": "#fafafa", "line": {"width": 0},
         "hoverinfo": "skip", "showlegend": False},
        {"type": "scatter", "mode": "lines", "line": {"color": "#c0392b", "width": 3}, "hoverinfo": "skip",
         "showlegend": False},
        {"type": "scatter", "mode": "text", "x": [-0.5], "y": [max(gh, oh) + 0.2], "textposition": "bottom right",
         "textfont": {"size": 13, "family": "monospace", "color": "#222"}, "hoverinfo": "skip", "showlegend": False},
    ]
    rows_k = np.array([st.rows for st in steps])  # [N, K] grid rows under the window at each step
    cols_k = np.array([st.cols for st in steps])
    texts = computation_texts(lab, steps)
    n, nan = len(steps), np.nan
    # Every frame's coordinates, vectorised: rows of [N, ...] float arrays (NaN separates polygons; JSON
    # writes it as null). Arrays go to orjson as they are, which is much faster than lists of floats.
    offs_a = np.array(offs, dtype=float)
    xs_k = offs_a[None, :, None] + cols_k[:, None, :]  # [N, nc, K] window columns on each channel grid
    sub_x = np.round(np.broadcast_to(xs_k[:, :, None, :] + 0.3, (n, len(offs), s.k, s.k)), 2).reshape(n, -1)
    sub_y = np.broadcast_to(rows_k[:, None, :, None] + 0.3, (n, len(offs), s.k, s.k)).reshape(n, -1)
    if s.dilation == 1:  # one rectangle per channel
        x0, x1 = xs_k[:, :, 0] - 0.5, xs_k[:, :, -1] + 0.5
        y0 = np.broadcast_to(rows_k[:, :1] - 0.5, x0.shape)
        y1 = np.broadcast_to(rows_k[:, -1:] + 0.5, x0.shape)
        gaps = np.full(x0.shape, nan)
        win_x = np.stack([x0, x1, x1, x0, x0, gaps], axis=-1).reshape(n, -1)
        win_y = np.stack([y0, y0, y1, y1, y0, gaps], axis=-1).reshape(n, -1)
    else:  # one square marker per covered cell: 2 numbers per cell instead of a 6-point polygon
        shape = (n, len(offs), s.k, s.k)
        win_x = np.broadcast_to(xs_k[:, :, None, :], shape).reshape(n, -1).astype(float)
        win_y = np.broadcast_to(rows_k[:, None, :, None], shape).reshape(n, -1).astype(float)
    r_o = np.array([st.out_row for st in steps], dtype=float)
    c_o = np.array([st.out_col for st in steps], dtype=float)
    mid, end, start = oxo + c_o + 0.5, np.full(n, oxo + ow - 0.5), np.full(n, oxo - 0.5)
    cov_x = np.stack([mid, end, end, start, start, mid, mid], axis=-1)
    cov_y = np.stack([r_o - 0.5, r_o - 0.5, np.full(n, oh - 0.5), np.full(n, oh - 0.5), r_o + 0.5, r_o + 0.5,
                      r_o - 0.5], axis=-1)
    if n == oh * ow:
        cov_x[-1] = cov_y[-1] = nan  # the last cell: nothing left to hide
    hl_x = np.stack([oxo + c_o - 0.5, oxo + c_o + 0.5, oxo + c_o + 0.5, oxo + c_o - 0.5, oxo + c_o - 0.5], axis=-1)
    hl_y = np.stack([r_o - 0.5, r_o - 0.5, r_o + 0.5, r_o + 0.5, r_o - 0.5], axis=-1)
    no_sub = {"x": [], "y": []}
    frames = [{"name": str(i), "traces": list(range(dyn, dyn + 5)), "data": [
        {"x": win_x[i], "y": win_y[i]},
        {"x": sub_x[i], "y": sub_y[i]} if sub_text else no_sub,
        {"x": cov_x[i], "y": cov_y[i]}, {"x": hl_x[i], "y": hl_y[i]}, {"text": [texts[i]]}],
        "layout": {"updatemenus": [{}, {}, {"buttons": _step_buttons(str(max(i - 1, 0)), str(min(i + 1, n - 1)))}]}}
        for i in range(n)]
    if frames:  # the first frame is the initial state
        for j, upd in enumerate(frames[0]["data"]):
            data[dyn + j].update({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in upd.items()})

    annotations = []
    for off, ch in zip(offs, chans):
        title = _input_title(lab, ch, pitch_px=(gw + GAP_CELLS) * cell_px)
        annotations.append({"x": off + gw / 2 - 0.5, "y": -0.6, "text": title, "showarrow": False, "yanchor": "bottom",
                            "font": {"size": 12}})
    out_title = f"<b>OUTPUT</b> {'channel' if lab.pooling else 'map'} {f + 1} ({oh}×{ow})"
    annotations.append({"x": oxo + ow / 2 - 0.5, "y": -0.6, "text": out_title, "showarrow": False,
                        "yanchor": "bottom", "font": {"size": 12, "color": "#0b4d0b"}})
    annotations.append({"x": oxo - 0.5, "y": max(oh, 1) / 2 - 0.5, "ax": oxo - 1.0 - (GAP_CELLS - 0.4), "ay": max(oh, 1) / 2 - 0.5,
                        "axref": "x", "ayref": "y", "xref": "x", "yref": "y", "text": "", "showarrow": True,
                        "arrowhead": 3, "arrowsize": 1.2, "arrowcolor": "#0b4d0b"})

    text_lines = 1 + max((t.count("<br>") for t in texts), default=0)
    rows_shown = max(gh, oh) + 0.8 + 18 / cell_px * min(text_lines, 40)  # a text line is ~18 px
    # The titles sit above the grids inside the plot area, however small the cells, so that the
    # buttons above the plot never cover them (the transposed view's titles take two lines).
    title_px = 17 * (2 if s.op == TCONV else 1) + 4
    top = 0.6 + title_px / cell_px
    every = -(-len(steps) // MAX_SLIDER_STEPS)  # the slider's ticks are drawn; play and step visit every cell
    slider = {"active": 0, "x": 0.0, "len": 1.0, "y": 0, "yanchor": "top", "pad": {"t": 10},
              "currentvalue": {"prefix": "", "font": {"size": 13, "color": "#333"}}, "font": {"size": 1, "color": "rgba(0,0,0,0)"},
              "ticklen": 0, "minorticklen": 0,
              "steps": [{"label": f"step {i + 1}/{len(steps)}: output row {st.out_row + 1}, column {st.out_col + 1}",
                         "value": str(i), "method": "animate",
                         "args": [[str(i)], STILL]} for i, st in enumerate(steps) if i % every == 0]}
    layout = {
        "xaxis": {"visible": False, "range": [-1, total_w + 0.2], "fixedrange": True},
        "yaxis": {"visible": False, "range": [rows_shown, -top], "scaleanchor": "x", "fixedrange": True},
        "height": int(cell_px * (rows_shown + top) + 180), "margin": {"l": 10, "r": 10, "t": 70, "b": 60},
        "plot_bgcolor": "white", "paper_bgcolor": "white", "annotations": annotations, "showlegend": False,
        "updatemenus": _menus(len(steps)), "sliders": [slider],
    }
    return RawFigure({"data": data, "layout": layout, "frames": frames})


def _grid_axes(n_rows: int, n_cols: int, hspace: float = 0.04, vspace: float = 0.1) -> list[list[tuple[dict, dict]]]:
    """Axis dicts (x, y domains) for a n_rows × n_cols grid of square heatmap panels."""
    cw = (1 - hspace * (n_cols - 1)) / n_cols
    rh = (1 - vspace * (n_rows - 1)) / n_rows
    def dom(a: float, b: float) -> list[float]:
        return [min(1.0, max(0.0, round(a, 4))), min(1.0, max(0.0, round(b, 4)))]
    return [[({"domain": dom(c * (cw + hspace), c * (cw + hspace) + cw)},
              {"domain": dom(1 - r * (rh + vspace) - rh, 1 - r * (rh + vspace))}) for c in range(n_cols)]
            for r in range(n_rows)]


def multichannel_figure(lab: Lab) -> go.Figure:
    """Lecture's "computed for each channel and summed" + "multiple convolutions", for output map `filt`.

    Rows: input channels; this filter's kernel slice per channel; each channel's partial sum and
    their total + bias; every output map (one per filter). Pooling: inputs and per-channel outputs.
    """
    s = lab.s
    f = s.filt - 1
    pooled = lab.pooling
    rows: list[list[tuple[str, np.ndarray, str]]] = [
        [(f"input channel {c + 1}", lab.x[c], "blue") for c in range(s.cin)]]
    if not pooled:
        rows.append([(f"filter {f + 1}, slice {c + 1}", lab.kernels[f, c], "div") for c in range(s.cin)])
        total = lab.partials[f].sum(axis=0)
        rows.append([(f"partial sum, channel {c + 1}", lab.partials[f, c], "green") for c in range(s.cin)]
                    + [(f"Σ partial sums + bias {ca.fmt(lab.bias[f])} = map {f + 1}", total + lab.bias[f], "green")])
    rows.append([(f"output {'channel' if pooled else 'map'} {o + 1}" + ("" if pooled else f" (bias {ca.fmt(lab.bias[o])})"),
                  lab.out[o], "green") for o in range(lab.out.shape[0])])
    n_cols = max(len(r) for r in rows)
    axes = _grid_axes(len(rows), n_cols)
    data, layout, annotations = [], {}, []
    k = 0
    for ri, row in enumerate(rows):
        for ci, (title, z, scale) in enumerate(row):
            k += 1
            xa, ya = axes[ri][ci]
            xn, yn = ("x", "y") if k == 1 else (f"x{k}", f"y{k}")
            layout["xaxis" if k == 1 else f"xaxis{k}"] = {**xa, "visible": False, "anchor": yn, "constrain": "domain"}
            layout["yaxis" if k == 1 else f"yaxis{k}"] = {**ya, "visible": False, "anchor": xn, "autorange": "reversed",
                                                          "scaleanchor": xn, "constrain": "domain"}
            lim = float(np.abs(z[np.isfinite(z)]).max()) if np.isfinite(z).any() else 1.0
            lim = lim or 1.0
            data.append({"type": "heatmap", "z": z.tolist(), "xaxis": xn, "yaxis": yn, "colorscale": PANEL_SCALES[scale],
                         "showscale": False, "xgap": 1, "ygap": 1, "zmin": -lim if scale == "div" else None,
                         "zmax": lim if scale == "div" else None,
                         "text": _str_grid(z).tolist(), "texttemplate": "%{text}" if z.size <= 400 else "",
                         "hovertemplate": f"{title}<br>row %{{y}}, col %{{x}}: %{{text}}<extra></extra>"})
            annotations.append({"text": wrap_line(title, 24), "x": sum(xa["domain"]) / 2, "y": ya["domain"][1] + 0.01, "xref": "paper",
                                "yref": "paper", "showarrow": False, "yanchor": "bottom", "font": {"size": 12}})
    layout.update({"annotations": annotations, "height": 230 * len(rows) + 50, "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
                   "plot_bgcolor": "white", "paper_bgcolor": "white"})
    return RawFigure({"data": data, "layout": layout})
