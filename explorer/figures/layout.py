"""Layout helpers shared by the figure builders: 1-2-5 ticks on log axes and labels that do not overlap.

Plotly's log axes label their minor ticks ("2 3 4 5 6 7 8 9" between decades) and its text labels
overlap when points are close; on a projector both read as noise. `log_ticks` gives a few round
tick values instead, and `place_labels` picks, for each point, a label position (as a pixel
offset for an annotation) that keeps clear of the other labels and markers.
"""

from __future__ import annotations

import math

LABEL_FONT = 12  # px


def log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick values 1-2-5 per decade between `low` and `high` (> 0), and their labels ("0.05", "2", "20")."""
    vals = [m * 10.0 ** e for e in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
            for m in (1, 2, 5)]
    vals = [v for v in vals if low <= v <= high]
    return vals, [f"{v:g}" for v in vals]


def _text_px(text: str, size: int = LABEL_FONT) -> tuple[float, float]:
    """Estimated width and height in px of one line of text (sans-serif: ~0.58 em a character)."""
    return 0.58 * size * len(text) + 4, size + 4


def overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Overlap area of two boxes (x0, y0, x1, y1)."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def place_labels(xy: list[tuple[float, float]], radii: list[float], texts: list[str],
                 area: tuple[float, float]) -> list[tuple[float, float]]:
    """Greedy label placement: for each point, the offset (px) among 8 around its bubble whose label box
    overlaps the least with the labels placed so far, all bubbles and the plot's edges.

    Args:
        xy: point centres in px within the plot area (origin bottom left).
        radii: bubble radii in px.
        texts: one label each.
        area: plot area (width, height) in px.

    Returns:
        [(dx, dy)] px from each point to its label's centre.
    """
    bubbles = [(x - r, y - r, x + r, y + r) for (x, y), r in zip(xy, radii)]
    placed: list[tuple[float, float, float, float]] = []
    offsets: list[tuple[float, float]] = [(0.0, 0.0)] * len(xy)
    for i in sorted(range(len(xy)), key=lambda i: -radii[i]):  # big bubbles choose first
        (x, y), r = xy[i], radii[i]
        w, h = _text_px(texts[i])
        gap = r + 3
        candidates = [(0, gap + h / 2), (0, -gap - h / 2), (gap + w / 2, 0), (-gap - w / 2, 0),
                      (gap * 0.7 + w / 2, gap * 0.7 + h / 2), (-gap * 0.7 - w / 2, gap * 0.7 + h / 2),
                      (gap * 0.7 + w / 2, -gap * 0.7 - h / 2), (-gap * 0.7 - w / 2, -gap * 0.7 - h / 2)]

        def cost(d: tuple[float, float]) -> float:
            box = (x + d[0] - w / 2, y + d[1] - h / 2, x + d[0] + w / 2, y + d[1] + h / 2)
            inside = overlap(box, (0, 0, area[0], area[1]))
            return (sum(overlap(box, p) for p in placed) * 4 + sum(overlap(box, b) for b in bubbles)
                    + (w * h - inside) * 2)

        best = min(candidates, key=cost)  # ties keep the earlier candidate: above, below, right, left
        offsets[i] = best
        placed.append((x + best[0] - w / 2, y + best[1] - h / 2, x + best[0] + w / 2, y + best[1] + h / 2))
    return offsets


def to_px(xs: list[float], ys: list[float], x_range: list[float], y_range: list[float],
          area: tuple[float, float]) -> list[tuple[float, float]]:
    """Data coordinates (x already log10 on a log axis) -> px in a plot area (width, height), origin bottom left."""
    return [((x - x_range[0]) / (x_range[1] - x_range[0]) * area[0],
             (y - y_range[0]) / (y_range[1] - y_range[0]) * area[1]) for x, y in zip(xs, ys)]


def label_boxes(xy: list[tuple[float, float]], offsets: list[tuple[float, float]],
                texts: list[str]) -> list[tuple[float, float, float, float]]:
    """The (estimated) px boxes (x0, y0, x1, y1) of labels placed at `xy` + `offsets`."""
    boxes = []
    for (x, y), (dx, dy), text in zip(xy, offsets, texts):
        w, h = _text_px(text)
        boxes.append((x + dx - w / 2, y + dy - h / 2, x + dx + w / 2, y + dy + h / 2))
    return boxes


def wrap_line(text: str, chars: int) -> str:
    """`text` broken with <br> at spaces into lines of at most `chars` characters (a longer word stays whole).

    Plotly never wraps a title: on a narrow chart (a column at 150% zoom) it runs past the edge. Text that
    already has line breaks is left as its builder laid it out.
    """
    if "<br" in text or len(text) <= chars:
        return text
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


#: Characters of a chart title per line on a chart as wide as the page's main column at its narrowest: 1280 px
#: at 150% zoom leave the column about 470 CSS px, about 50 characters of a 16 px title.
TITLE_CHARS = 50


def wrapped_title(spec: dict, chars: int = TITLE_CHARS) -> dict:
    """`spec` (a figure as plain dicts) with its title wrapped at `chars` characters a line, the top margin and
    the height grown by a line's height for every added line, so that the plot keeps its size. A shallow copy:
    `spec` itself, often shared by every session, is not changed."""
    layout = spec.get("layout", {})
    title = layout.get("title")
    text = title.get("text") if isinstance(title, dict) else title
    if not isinstance(text, str) or not text:
        return spec
    wrapped = wrap_line(text, chars)
    added = wrapped.count("<br>") - text.count("<br>")
    if added == 0:
        return spec
    size = (title.get("font", {}) if isinstance(title, dict) else {}).get("size") or layout.get("font", {}).get(
        "size", 12) * 1.4
    grow = round(added * size * 1.3)
    margin = dict(layout.get("margin", {}))
    margin["t"] = margin.get("t", 100) + grow
    layout = {**layout, "title": {**(title if isinstance(title, dict) else {}), "text": wrapped}, "margin": margin}
    if isinstance(layout.get("height"), (int, float)):
        layout["height"] += grow
    return {**spec, "layout": layout}
