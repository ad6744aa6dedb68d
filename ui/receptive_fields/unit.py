"""One unit's field on your photo: pick a layer and a unit (click the map or use the sliders), see its box.

A fragment: a click on the layer's map or a slider reruns only this part, from cached fields and maps.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from explorer.receptive_fields import figures as figs
from explorer.receptive_fields import fields as rf
from explorer.training.config import CUSTOM
from ui import background, presenter
from ui import address
from ui.models import image_key, loaded_model
from ui.safe_text import md
from ui.receptive_fields import data
from ui.receptive_fields.effective_field import effective_section


MEAN_MAP = "mean over channels"
QUICK_S = 0.5  # seconds a rerun waits for a layer's maps before it says they are being computed
STATIC = {"displayModeBar": False}  # pictures to look at and click, not to zoom: no toolbar over the title


def _set_unit(row: int, col: int) -> None:
    """Set the unit sliders from a callback (`_unit_slider` writes them to the address)."""
    st.session_state["rf_row"], st.session_state["rf_col"] = row, col


def _keep_point(net: data.Net) -> None:
    """After a layer change, pick the unit whose field centre is nearest to the point the student chose (the centre
    of the unit they last picked, in pixels): the box grows in place, and comes back to the same unit when the
    slider goes back, however coarse the maps in between were."""
    point = st.session_state.get("rf_point")
    if point is None:
        return
    fields = data.fields(net.key, net.side, net.config)
    _set_unit(*rf.nearest_unit(rf.find(fields, st.session_state["rf_layer"]), point))


def _moved() -> None:
    """The student picked another unit (a slider or a click): its centre becomes the point the layer slider keeps."""
    st.session_state.pop("rf_point", None)


def _pick_unit() -> None:
    """A click on the layer's map: the marker of unit (row, col) sits at x = col, y = row."""
    event = st.session_state.get("rf_map_fig")
    points = event["selection"]["points"] if event else []
    if points and "x" in points[0] and "y" in points[0]:
        _set_unit(round(points[0]["y"]), round(points[0]["x"]))
        _moved()


def _checked_url(key: str, allowed, what: str, where: str, fallback: str) -> None:
    """Streamlit silently drops an address value a widget cannot take; say so, and what to pick instead."""
    raw = st.query_params.get(key)
    if raw is None or key in st.session_state:
        return
    address.handled(key)
    if raw not in allowed:
        st.warning(f"The address asks for {what} {md(raw)}, which {where} does not have: showing {fallback}. "
                   f"Pick {what} from the slider.", icon=":material/link_off:")


def _unit_slider(container, key: str, label: str, n: int, layer: str) -> int:
    """A unit row or column slider, 0 … n − 1, kept in the address by hand.

    Not bound with bind="query-params": a slider whose range changes (another layer) is a new widget, and a new
    widget bound to the address takes the address's old value over the one a callback just set, so going back
    to a larger map left the box where it was (issue 21). Here the session's value always wins, and the
    address follows it.
    """
    if n == 1:
        container.caption(f"{label}: 0 (the map has a single {label.split()[-1]})")
        return 0
    what = label.lower()
    if key not in st.session_state:  # a new session: the address's value, if it is one of this map's
        raw = st.query_params.get(key)
        _checked_url(key, {str(i) for i in range(n)}, what, f"{layer}'s map ({n} {what.split()[-1]}s: 0–{n - 1})",
                     f"{what} {n // 2}")
        st.session_state[key] = int(raw) if raw in {str(i) for i in range(n)} else n // 2
    st.session_state[key] = min(max(int(st.session_state[key]), 0), n - 1)
    value = container.slider(label, 0, n - 1, key=key, on_change=_moved)
    st.query_params[key] = str(value)
    return value


def _earlier_boxes(fields: list[rf.LayerRF], f: rf.LayerRF, row: int, col: int) -> list[tuple[int, int, int, int]]:
    """The boxes of the earlier stages' units nearest to this unit's centre: how the field grew to this one."""
    point = (f.rows.centre(row), f.cols.centre(col))
    earlier = [g for g in fields[: fields.index(f)] if g.kind == "stage" and g.output_size != (1, 1)]
    return [rf.unit_box(g, *rf.nearest_unit(g, point)) for g in earlier]


@st.fragment
def unit(net: data.Net, fields: list[rf.LayerRF], image: Image.Image, caption: str) -> None:
    names = [f.name for f in fields]
    default = rf.default_layer(fields)
    _checked_url("rf_layer", set(names), "layer", net.title, default)
    by_name = {f.name: f for f in fields}
    layer = st.select_slider("Layer, in network order (drag it: the box grows in place)", names, default,
                             key="rf_layer", bind="query-params", on_change=_keep_point, args=(net,))
    f = by_name[layer]
    st.caption(f"{f.label} · depth {f.depth} · jump {f.jump[0]:g} px")
    h, w = f.output_size
    c1, c2, c3 = st.columns([2, 2, 3])
    row = _unit_slider(c1, "rf_row", "Unit row", h, layer)
    col = _unit_slider(c2, "rf_col", "Unit column", w, layer)
    if "rf_point" not in st.session_state:  # the centre of the unit the student picked, in input pixels
        st.session_state["rf_point"] = (f.rows.centre(row), f.cols.centre(col))
    box = rf.unit_box(f, row, col)
    photo = image_key(image)
    try:
        data.within_budget(net)  # before any weight or map is computed
        x, seen = data.prepared(net, photo, image)
    except ValueError as exc:
        st.error(md(exc, None))
        return
    if net.key != CUSTOM:
        loaded = loaded_model(net.key)  # shows the wait while a zoo model loads (once per server)
        if not loaded.pretrained:
            st.caption(f"{loaded.weights_note} The map on the right shows what random weights compute; the boxes "
                       "do not depend on the weights.")
    future = data.layer_maps(net, photo, layer, x)
    if not background.ready(future, QUICK_S):
        background.rerun_when_done(future, f"Running {net.title} up to {layer} on your photo:")
        return
    maps = future.result()
    choices = [MEAN_MAP, *(f"channel {i}" for i in range(len(maps)))]
    _checked_url("rf_map", set(choices), "map", layer, "the mean over channels")
    shown = c3.selectbox("Map shown on the right", choices, key="rf_map", bind="query-params")
    values = maps.mean(axis=0) if shown == choices[0] else maps[int(shown.split()[1])]

    top, left, bottom, right = box
    share = rf.padding_share(box, net.side)
    earlier = _earlier_boxes(fields, f, row, col)
    left_col, right_col = st.columns(2)
    unit_title = f"{layer}, unit ({row}, {col}): {bottom - top + 1}×{right - left + 1} px"
    left_col.plotly_chart(presenter.figure(figs.unit_figure(seen, box, unit_title, f"on {caption}", earlier), 0.5),
                          key="rf_unit_fig", config=STATIC)
    map_title = f"{layer}: {shown} ({h}×{w}); click a unit"
    right_col.plotly_chart(presenter.figure(figs.map_figure(values, (row, col), map_title), 0.5),
                           key="rf_map_fig", on_select=_pick_unit, selection_mode="points", config=STATIC)
    vector = maps[:, row, col]
    strongest = np.argsort(vector)[::-1][:3]
    whole = " Through a global average (squeeze-and-excitation) it also sees the whole image." \
        if f.global_context else ""
    st.markdown(
        f"Unit ({row}, {col}) of **{layer}** sees rows {top}…{bottom} and columns {left}…{right} of the "
        f"{net.side[0]}×{net.side[1]} input: a **{bottom - top + 1}×{right - left + 1} px** box, "
        f"**{share:.0%}** of it in the zero padding (hatched).{whole}"
        + (" Dotted: the earlier stages' fields around the same point." if earlier else "")
        + f" Its activation: mean over its {len(vector)} "
        f"channels {vector.mean():.3g}; strongest channels "
        + ", ".join(f"#{i} ({vector[i]:.3g})" for i in strongest) + ".")
    for note in f.misaligned:
        st.caption(note)
    effective_section(net, f, image, photo, caption)
