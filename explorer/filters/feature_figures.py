"""Figures for the filters and feature-maps page: filter grids, feature-map grids, one map large, top-5.

Figures are plain dicts (`explorer.figures.raw`): on this page Streamlit's `Figure.to_dict()` of the cached
go.Figures (a deep copy and a walk of each, on every rerun) was about a third of a rerun, and the top-5
chart, rebuilt on every run, another large share.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from explorer.figures.images import colorize, mosaic, normalise, data_uri, tile_origin, to_uint8, upscale
from explorer.figures.raw import COLORWAY, RawFigure, colorscale, typed
from explorer.figures.safe_text import plain, plain_all


def _image_figure(pixels: np.ndarray, title: str, fmt: str = "png", labels: list[dict] | None = None) -> RawFigure:
    """A figure holding one image (a mosaic) as PNG or JPEG, in pixel coordinates, no axes; `labels` from `_labels`."""
    layout = {"xaxis": {"visible": False, "range": [0, pixels.shape[1]]},
              "yaxis": {"visible": False, "range": [pixels.shape[0], 0], "scaleanchor": "x"},
              "title": {"text": title}, "margin": {"l": 0, "r": 0, "t": 40, "b": 0}, "dragmode": False,
              "height": min(900, pixels.shape[0] + 60)}
    if labels is not None:
        layout["annotations"] = labels
    return RawFigure({"data": [{"type": "image", "source": data_uri(pixels, fmt), "hoverinfo": "skip"}],
                      "layout": layout})


def _labels(corners: list[tuple[int, int]], texts: list[str]) -> list[dict]:
    """Small white labels at the top-left corners of tiles (layout annotations)."""
    return [{"x": x + 2, "y": y + 2, "text": text, "showarrow": False, "xanchor": "left", "yanchor": "top",
             "font": {"size": 10, "color": "white"}, "bgcolor": "rgba(0,0,0,0.55)", "borderpad": 1}
            for (x, y), text in zip(corners, texts)]


def filter_grid(weights: torch.Tensor, layer: str, columns: int = 16, tile: int = 40) -> RawFigure:
    """The first layer's filters as RGB tiles (grayscale for 1 input channel), each normalised on its own.

    Args:
        weights: [C_out, C_in, K, K] with C_in = 3 (or 1).
        layer: the layer's name, for the title.
        columns: tiles per row.
        tile: approximate tile side in pixels (each kernel pixel becomes tile // K screen pixels).
    """
    c_out, c_in, kh, kw = weights.shape
    factor = max(1, tile // max(kh, kw))
    tiles = []
    for w in weights.float().numpy():
        rgb = normalise(w.transpose(1, 2, 0))  # [K, K, C_in] scaled to its own min..max
        rgb = np.repeat(rgb, 3, axis=2) if c_in == 1 else rgb
        tiles.append(upscale(to_uint8(rgb), factor))
    columns = min(columns, c_out)
    title = (f"{layer}: {c_out} filters, shape K×K×{c_in}×C_out = {kh}×{kw}×{c_in}×{c_out} "
             "(each tile scaled to its own min…max)")
    return _image_figure(mosaic(tiles, columns), title)


def _gray_slices(slices: torch.Tensor, keep: list[int], prefix: str, title: str, tile: int) -> RawFigure:
    """Slices [N, K, K] (those in `keep`) as grayscale tiles on one shared scale, mid-gray = 0."""
    kh, kw = slices.shape[1:]
    w = slices.float()
    scale = float(w[keep].abs().max()) or 1.0
    factor = max(1, tile // max(kh, kw))
    tiles = [upscale(to_uint8(np.repeat((0.5 + w[i].numpy() / (2 * scale))[..., None], 3, axis=2)), factor)
             for i in keep]
    columns = min(16, len(tiles))
    labels = _labels([tile_origin(i, columns, tiles[0].shape[:2]) for i in range(len(keep))],
                     [f"{prefix} {channel}" for channel in keep])
    return _image_figure(mosaic(tiles, columns), f"{title} (black = −{scale:.3g}, mid-gray = 0, white = +{scale:.3g})",
                         labels=labels)


def _strongest(slices: torch.Tensor, limit: int) -> list[int]:
    """Indices of the `limit` slices with the largest L2 norm, in index order (all when there are fewer)."""
    if len(slices) <= limit:
        return list(range(len(slices)))
    return sorted(torch.topk(slices.float().flatten(1).norm(dim=1), limit).indices.tolist())


def filter_slices(weight: torch.Tensor, layer: str, index: int, limit: int = 64, tile: int = 56) -> RawFigure:
    """The per-input-channel slices of one filter in grayscale, on one shared scale (mid-gray = 0).

    Args:
        weight: [C_in, K, K], one filter of a conv layer (C_in is in_channels / groups).
        layer, index: the layer's name and the filter's index, for the title.
        limit: at most this many slices are drawn: those with the largest L2 norm, in channel order.
    """
    c_in, kh, kw = weight.shape
    keep = _strongest(weight, limit)
    subset = f"the {limit} strongest of {c_in} slices" if c_in > limit else f"all {c_in} slices"
    return _gray_slices(weight, keep, "in", f"{layer}, filter {index}: {subset} of {kh}×{kw}", tile)


def depthwise_filters(weight: torch.Tensor, layer: str, limit: int = 64, tile: int = 56) -> RawFigure:
    """A depthwise layer's filters [C, 1, K, K]: filter c reads only input channel c, so each has one slice."""
    c, _, kh, kw = weight.shape
    slices = weight[:, 0]
    keep = _strongest(slices, limit)
    subset = f"the {limit} strongest of {c}" if c > limit else f"all {c}"
    return _gray_slices(slices, keep, "ch", f"{layer} (depthwise): {subset} filters of {kh}×{kw}, one slice each",
                        tile)


def feature_grid(maps: torch.Tensor, channels: list[int], layer: str, seen: np.ndarray | None = None,
                 columns: int = 8, tile: int = 96) -> RawFigure:
    """Chosen channels of a layer's output, upsampled to `tile` px, each scaled to its own min…max.

    Args:
        maps: [C, H, W], the layer's output.
        channels: channel indices to draw, in order (e.g. the most active first).
        layer: the layer's name, for the title.
        seen: uint8 [S, S, 3], the model's input crop: when given, each map is laid over it
            (the photo in gray, the activation in colour, more opaque where it is higher).
        columns: tiles per row.
        tile: tile side in pixels.

    The whole grid is one JPEG: about 0.2 MB for 32 maps, whatever the layer's resolution.
    """
    if not channels:
        raise ValueError("Choose at least one channel to show.")
    selected = maps[channels].float()[None]
    up = F.interpolate(selected, size=(tile, tile), mode="bilinear", align_corners=False)[0].numpy()
    photo = None
    if seen is not None:
        gray = seen.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        gray = F.interpolate(torch.from_numpy(gray)[None, None], size=(tile, tile), mode="area")[0, 0].numpy()
        photo = np.repeat(gray[..., None], 3, axis=2)
    tiles = []
    for m in up:
        v = normalise(m)
        heat = colorize(v, 0.0, 1.0).astype(np.float32)
        if photo is not None:
            alpha = (0.25 + 0.75 * v)[..., None]
            heat = alpha * heat + (1 - alpha) * photo
        tiles.append(heat.astype(np.uint8))
    columns = min(columns, len(tiles))
    c, h, w = maps.shape
    means = maps[channels].float().mean(dim=(1, 2)).tolist()
    labels = _labels([tile_origin(i, columns, (tile, tile)) for i in range(len(channels))],
                     [f"#{channel}<br>{mean:.2f}" for channel, mean in zip(channels, means)])  # narrow at 150% zoom
    return _image_figure(mosaic(tiles, columns),
                         f"{layer}: {len(channels)} of {c} channels ({h}×{w} each, shown at {tile}×{tile}; "
                         "each scaled to its own min…max; labels: channel, mean)", fmt="jpeg", labels=labels)


def channel_figure(channel_map: torch.Tensor, layer: str, channel: int, seen: np.ndarray | None = None) -> RawFigure:
    """One channel large, as a heatmap of its real values with a colour bar (its range), optionally over the photo.

    Args:
        channel_map: [H, W], one channel of a layer's output.
        seen: uint8 [S, S, 3], the model's input crop, drawn underneath when given.
    """
    z = channel_map.float().numpy()
    h, w = z.shape
    size = seen.shape[0] if seen is not None else max(h, w)
    data = [] if seen is None else [{"type": "image", "source": data_uri(seen, "jpeg"), "hoverinfo": "skip"}]
    data.append({
        "type": "heatmap", "z": typed(z), "x0": size / w / 2 - 0.5, "dx": size / w, "y0": size / h / 2 - 0.5,
        "dy": size / h, "colorscale": colorscale("Viridis"), "opacity": 0.6 if seen is not None else 1.0,
        "colorbar": {"title": {"text": "activation"}},
        "hovertemplate": "row %{customdata[0]}, col %{customdata[1]}: %{z:.3f}<extra></extra>",
        "customdata": typed(np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), axis=-1))})
    layout = {"xaxis": {"visible": False, "range": [-0.5, size - 0.5]},
              "yaxis": {"visible": False, "range": [size - 0.5, -0.5], "scaleanchor": "x"},
              "title": {"text": f"{layer}, channel {channel}: {h}×{w}, values {z.min():.3g} … {z.max():.3g} "
                                f"(mean {z.mean():.3g})"},
              "margin": {"l": 0, "r": 0, "t": 40, "b": 0}, "height": 480}
    return RawFigure({"data": data, "layout": layout})


def top5_figure(top: list[tuple[str, float]], title: str) -> RawFigure:
    """Horizontal bars of [(label, probability)], highest on top, probability axis 0-1.

    Labels and title are drawn literally (`safe_text.plain`): the title names the student's file.
    """
    labels, probs = plain_all([t[0] for t in top][::-1]), [t[1] for t in top][::-1]
    data = [{"type": "bar", "x": probs, "y": labels, "orientation": "h", "text": [f"{p:.1%}" for p in probs],
             "textposition": "auto", "hovertemplate": "%{y}: %{x:.2%}<extra></extra>"}]
    layout = {"title": {"text": plain(title)}, "xaxis": {"title": {"text": "probability"}, "range": [0, 1]},
              "yaxis": {"type": "category"}, "height": 300, "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
              "colorway": COLORWAY}
    return RawFigure({"data": data, "layout": layout})
