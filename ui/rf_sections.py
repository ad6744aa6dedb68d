"""Streamlit sections of the receptive-fields page (app_pages/receptive_fields.py is their table of contents).

Widget keys start with "rf_" and are mirrored in the URL. The unit view and the effective field are one
fragment: a click on the layer's map or a slider reruns only that part, from cached fields and maps. The
effective field is a Dask task shared by every session (`ui.shared_tasks`); a nested fragment follows its
progress, and the session remembers which fields it asked for and stopped ("rf_erf_asked", "rf_erf_stopped").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from explorer import images as gallery
from explorer.receptive_fields import fields as rf
from explorer.receptive_fields import inputs as rf_inputs, lecture as rf_lecture
from explorer.runtime import tasks
from explorer.figures import receptive_field as figs
from ui import rf_data as data
from ui.models import image_key, loaded_model, model_picker, shared
from ui.shared_tasks import Shared, session_id, task_store
from explorer.models import registry
from explorer.receptive_fields import effective
from explorer.training.config import CUSTOM

MEAN_MAP = "mean over channels"
_STATIC = {"displayModeBar": False}  # pictures to look at and click, not to zoom: no toolbar over the title


# --- the network ------------------------------------------------------------------------------------------

def _new_model() -> None:
    """A new network starts at its default layer, centre unit and mean map. The widgets are bound to the URL,
    so their values are set (Streamlit refuses to delete a bound parameter), which also clears the URL."""
    key = st.session_state["rf_model"]
    if key == CUSTOM:
        config = data.custom_config()
        side = tuple(data.cn.from_config(config)[1][1:])
    else:
        config, side = None, (registry.info(key).input_size,) * 2
        st.session_state["rf_size"] = side[0]
    fields = data.fields(key, side, config)
    f = rf.find(fields, rf.default_layer(fields))
    st.session_state["rf_layer"] = f.name
    st.session_state["rf_row"], st.session_state["rf_col"] = f.output_size[0] // 2, f.output_size[1] // 2
    st.session_state["rf_map"] = MEAN_MAP
    st.session_state.pop("rf_last", None)


def network() -> data.Net:
    """Model and input-size widgets; the chosen network."""
    config = data.custom_config()
    names = registry.list_models() + ([CUSTOM] if config else [])
    c1, c2, c3 = st.columns([2, 1, 3])
    with c1:
        key = model_picker("Model", names, key="rf_model", on_change=_new_model,
                           help="Fields depend on the architecture only; the maps and the effective field use "
                                "the weights (models marked \"untrained here\" have random ones).")
    if st.session_state.get("custom_network") and not config:
        c1.caption("Your network on the Architectures page has a layer with an invalid setting: fix it there to "
                   "see its fields here.")
    elif st.query_params.get("rf_model") == CUSTOM and not config:
        c1.caption("No network of yours yet: build one in the \"Build your own\" tab of the Architectures page and "
                   "it appears in this list.")
    if key == CUSTOM:
        spec, shape = data.cn.from_config(config)
        if len(config) <= data.URL_LIMIT:
            st.query_params["rf_net"] = config
        c2.metric("Input (C×H×W)", "×".join(map(str, shape)))
        return data.Net(key, data.CUSTOM_TITLE, shape[1:], rf_inputs.custom_input(shape), config)
    entry = registry.info(key)
    side = c2.number_input("Input size (px)", 8, 1024, entry.input_size, key="rf_size", bind="query-params",
                           help=f"{entry.title}'s weights use {entry.input_size} px. Try one more pixel with "
                                "EfficientNet-Lite: its padding, and so its fields, move.")
    c3.multiselect("Compare with", registry.list_models(), data.DEFAULT_COMPARE,
                   key="rf_cmp", bind="query-params",
                   help="Other networks' fields, each at its own input size.")
    return data.Net(key, entry.title, (int(side), int(side)), rf_inputs.zoo_input(key, int(side)))


# --- 1 · growth ------------------------------------------------------------------------------------------

def growth(net: data.Net, fields: list[rf.LayerRF]) -> None:
    series = {net.title: fields}
    for other in st.session_state.get("rf_cmp", []) if net.key != CUSTOM else []:
        if other != net.key:
            side = registry.info(other).input_size
            series[data.title(other)] = data.fields(other, (side, side))
    st.plotly_chart(figs.growth_figure(series, net.side[0]), key="rf_growth")
    first = rf.first_full_view(fields)
    side = f"{net.side[0]}×{net.side[1]}"
    if first is None:
        st.caption(f"No layer of {net.title} has a field as large as its {side} px input.")
    else:
        st.caption(f"{net.title} first has a field as large as its {side} px input at {first.name} (depth "
                   f"{first.depth}, field {first.size[0]}×{first.size[1]} px). Each convolution adds (K − 1) × the "
                   "jump so far, so strided layers make the field grow faster. Open circles: units that also see "
                   "the whole image through a global average; a final global pooling is not drawn (it sees "
                   "everything).")
    for note in data.notes(net.key, net.side):
        st.info(note, icon=":material/info:")
    with st.expander("Every layer's field (table)"):
        st.dataframe(pd.DataFrame([{
            "layer": f.name, "kind": f.kind, "type": f.module_type, "depth": f.depth,
            "map": f"{f.output_size[0]}×{f.output_size[1]}", "field (px)": f"{f.size[0]}×{f.size[1]}",
            "jump (px)": f"{f.jump[0]:g}", "unit (0, 0) centred at": f"({f.start[0]:g}, {f.start[1]:g})",
            "whole image (global pooling)": f.global_context} for f in fields]), hide_index=True, key="rf_table")


# --- 2 · one unit ----------------------------------------------------------------------------------------

def _set_unit(row: int, col: int) -> None:
    """Set the unit sliders from a callback (the address follows the widgets)."""
    st.session_state["rf_row"], st.session_state["rf_col"] = row, col


def _keep_point(net: data.Net) -> None:
    """After a layer change, pick the unit whose field centre is nearest to the previous unit's: the box grows in place."""
    last = st.session_state.get("rf_last")
    if last is None:
        return
    fields = data.fields(net.key, net.side, net.config)
    old, new = rf.find(fields, last[0]), rf.find(fields, st.session_state["rf_layer"])
    point = (old.rows.centre(last[1]), old.cols.centre(last[2]))
    _set_unit(*rf.nearest_unit(new, point))


def _pick_unit() -> None:
    """A click on the layer's map: the marker of unit (row, col) sits at x = col, y = row."""
    event = st.session_state.get("rf_map_fig")
    points = event["selection"]["points"] if event else []
    if points and "x" in points[0] and "y" in points[0]:
        _set_unit(round(points[0]["y"]), round(points[0]["x"]))


def _checked_url(key: str, allowed, what: str, where: str, fallback: str) -> None:
    """Streamlit silently drops an address value a widget cannot take; say so, and what to pick instead."""
    raw = st.query_params.get(key)
    if raw is None or key in st.session_state:
        return
    if raw not in allowed:
        st.warning(f"The address asks for {what} {raw}, which {where} does not have: showing {fallback}. "
                   f"Pick {what} from the slider.", icon=":material/link_off:")


def _unit_slider(container, key: str, label: str, n: int, layer: str) -> int:
    if n == 1:
        container.caption(f"{label}: 0 (the map has a single {label.split()[-1]})")
        return 0
    what = label.lower()
    _checked_url(key, {str(i) for i in range(n)}, what, f"{layer}'s map ({n} {what.split()[-1]}s: 0–{n - 1})",
                 f"{what} {n // 2}")
    if st.session_state.get(key, 0) > n - 1:
        st.session_state[key] = n - 1
    return container.slider(label, 0, n - 1, n // 2, key=key, bind="query-params")


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
    st.session_state["rf_last"] = (layer, row, col)
    box = rf.unit_box(f, row, col)
    photo = image_key(image)
    try:
        x, seen = data.prepared(net, photo, image)
    except ValueError as exc:
        st.error(str(exc))
        return
    if net.key != CUSTOM:
        loaded = loaded_model(net.key)  # shows the wait while a zoo model loads (once per server)
        if not loaded.pretrained:
            st.caption(f"{loaded.weights_note} The map on the right shows what random weights compute; the boxes "
                       "do not depend on the weights.")
    maps = data.layer_maps(net, photo, layer, x)
    choices = [MEAN_MAP, *(f"channel {i}" for i in range(len(maps)))]
    _checked_url("rf_map", set(choices), "map", layer, "the mean over channels")
    shown = c3.selectbox("Map shown on the right", choices, key="rf_map", bind="query-params")
    values = maps.mean(axis=0) if shown == choices[0] else maps[int(shown.split()[1])]

    top, left, bottom, right = box
    share = rf.padding_share(box, net.side)
    earlier = _earlier_boxes(fields, f, row, col)
    left_col, right_col = st.columns(2)
    left_col.plotly_chart(figs.unit_figure(seen, box, f"{layer}, unit ({row}, {col}): "
                                                      f"{bottom - top + 1}×{right - left + 1} px", f"on {caption}",
                                           earlier),
                          key="rf_unit_fig", config=_STATIC)
    right_col.plotly_chart(figs.map_figure(values, (row, col), f"{layer}: {shown} ({h}×{w}); click a unit"),
                           key="rf_map_fig", on_select=_pick_unit, selection_mode="points", config=_STATIC)
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


# --- 2b · effective receptive field ------------------------------------------------------------------------

def _other_photos(caption: str, count: int) -> list[str]:
    """Names of the gallery photos that join the student's photo, `count` images in all."""
    return [name for name in gallery.GALLERY if f"“{name}”" not in caption][: count - 1]


ERF_KEYS_KEPT = 32  # effective-field keys a session remembers asking for or stopping (a few hundred bytes each)


def _remember(name: str, keys: list[tuple]) -> list[tuple]:
    """Add `keys` to the session's list `name` ("rf_erf_asked" or "rf_erf_stopped"), keeping the latest."""
    kept = st.session_state.setdefault(name, [])
    kept.extend(k for k in keys if k not in kept)
    del kept[:-ERF_KEYS_KEPT]
    return kept


def _forget(keys: list[tuple] | None = None) -> None:
    """Ask for these fields (all, when None) afresh: one that stopped or failed is started again."""
    for name in ("rf_erf_asked", "rf_erf_stopped"):
        st.session_state[name] = [k for k in st.session_state.get(name, []) if keys is not None and k not in keys]


def _erf_toggled() -> None:
    """Turned off: this session no longer waits for its fields; turned on: it asks for them afresh."""
    if not st.session_state.get("rf_erf"):
        for key in st.session_state.get("rf_erf_asked", []):
            task_store().cancel(key, session_id())  # a field that ended already is left as it is
    _forget()


def _stop_erf(keys: list[tuple]) -> None:
    """Stop: this session no longer waits for the fields; each stops before its next image unless another
    session waits for it too. The toggle stays on and the page says where they stopped."""
    for key in keys:
        task_store().cancel(key, session_id())
    _remember("rf_erf_stopped", keys)


def _erf_tasks(net: data.Net, f: rf.LayerRF, image: Image.Image, runs: list[tuple[str, bool]], images_key: str,
               others: list[str]) -> list[tuple[str, Shared]]:
    """(label, task) of each run: started or joined, or, if this session stopped it, only looked at. One that
    stopped or failed starts again only if this session has not asked for it since it last flipped the toggle or
    pressed "Compute it again" (else the page shows why it ended, instead of starting it on every rerun)."""
    asked, stopped = st.session_state.get("rf_erf_asked", []), st.session_state.get("rf_erf_stopped", [])
    entries = []
    for label, trained in runs:
        key = data.erf_key(net, f.name, trained, images_key)
        if key in stopped:
            shared = task_store().get(key)  # not joined again: Stop would be undone
        else:
            shared = data.effective_field(
                net, f.name, trained, images_key,
                lambda: rf_inputs.preprocess(net.inputs, [image, *map(gallery.sample_image, others)]),
                again=key not in asked)
        if shared is not None:
            entries.append((label, shared))
    _remember("rf_erf_asked", [s.key for _, s in entries])
    return entries


def _erf_progress(entries: list[tuple[str, Shared]]) -> None:
    """While a field is computed: a progress bar per run and Stop, redrawn twice a second; the whole page
    reruns once all ended (to draw the results and stop polling)."""
    @st.fragment(run_every=0.5)
    def _live() -> None:
        if not any(s.active for _, s in entries):
            st.rerun()
        stopped = st.session_state.get("rf_erf_stopped", [])
        for label, s in entries:
            if not s.active:
                st.progress(1.0, text=f"{label}: {'done' if s.result is not None else 'ended'}")
            elif s.key in stopped:
                st.progress(s.fraction, text=f"{label}: stopping after the current image…")
            elif s.task is not None and s.task.message:
                st.progress(s.fraction, text=f"{label}: back-propagating from the centre unit, {s.task.message}")
            else:
                st.progress(s.fraction, text=s.message)
        running = [s.key for _, s in entries if s.active and s.key not in stopped]
        if running:
            st.button("Stop", key="rf_erf_stop", icon=":material/stop:", on_click=_stop_erf, args=(running,),
                      help="Ends the computation before its next image (unless another student waits for it too).")

    _live()


def _erf_problems(entries: list[tuple[str, Shared]]) -> None:
    """Why a field is missing (stopped, failed or refused), and a button to compute it again."""
    ended = [s for _, s in entries if s.error is not None]
    for s in ended:
        if s.task is not None and s.task.status == tasks.STOPPED:
            st.warning(s.error, icon=":material/stop_circle:")
        else:
            st.error(s.error)
    if ended:
        st.button("Compute it again", key="rf_erf_again", icon=":material/refresh:", on_click=_forget,
                  args=([s.key for s in ended],))


def effective_section(net: data.Net, f: rf.LayerRF, image: Image.Image, photo: str, caption: str) -> None:
    st.subheader("Effective receptive field (Luo et al., 2016)")
    st.markdown("How much each input pixel actually moves the centre unit: the mean absolute input gradient, over "
                "your photo and gallery photos. Luo et al. found it much smaller than the theoretical box (pixels "
                "near the centre have many more paths to the unit) and larger after training.")
    c1, c2, c3 = st.columns(3)
    on = c1.toggle("Compute it (a few seconds)", False, key="rf_erf", bind="query-params", on_change=_erf_toggled,
                   help="Computed on the server in the background: you can keep exploring meanwhile.")
    mass = c2.select_slider("Share of the gradient in the square", [50, 75, 90, 95], 90, key="rf_mass",
                            format_func=lambda v: f"{v}%", bind="query-params")
    count = c3.select_slider("Images", [1, 4, 8, 12], 8, key="rf_nimg", bind="query-params")
    if not on:
        return
    pretrained = net.key != CUSTOM and loaded_model(net.key).pretrained
    runs = ([("trained weights", True)] if pretrained else []) + [("random weights", False)]
    others = _other_photos(caption, count)
    entries = _erf_tasks(net, f, image, runs, photo + "|" + "|".join(others), others)
    if any(s.active for _, s in entries):
        _erf_progress(entries)
        return
    _erf_problems(entries)
    _erf_results(net, f, len(runs), [(label, s.result) for label, s in entries if s.result is not None], mass,
                 len(others), pretrained)


def _erf_results(net: data.Net, f: rf.LayerRF, runs: int, done: list[tuple[str, np.ndarray]], mass: int,
                 others: int, pretrained: bool) -> None:
    """Each finished field (of `runs` asked for) with its square and the theoretical box; how training changed it."""
    if not done:
        return
    h, w = f.output_size
    box = rf.unit_box(f, h // 2, w // 2)
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    theory = f.size[0]
    columns = st.columns(runs)
    sides = []
    for col, (label, erf) in zip(columns, done):
        side = effective.centred_square(erf, centre, mass / 100)
        sides.append(side)
        col.plotly_chart(figs.erf_figure(erf, box, centre, side, f"{label}: {mass}% in {side}×{side} px "
                                         f"(theory: {theory} px)"), key=f"rf_erf_fig_{label.split()[0]}")
        dashed = "dashed" if rf.padding_share(box, net.side) == 0 else "dashed, reaching past the image here"
        col.caption(f"{mass}% of the gradient lies in the centred {side}×{side} px square (solid): "
                    f"{side / theory:.0%} of the theoretical {theory} px side ({dashed}), "
                    f"{(side / theory) ** 2:.0%} of its area. Unit ({h // 2}, {w // 2}), {1 + others} images.")
    if len(sides) == 2 and sides[1]:
        st.markdown(f"Training made the square {sides[0] / sides[1]:.2g}× wider: "
                    f"{(sides[0] / sides[1]) ** 2:.2g}× the area (Luo et al.: the effective field grows with training).")
    elif not pretrained:
        st.caption(f"{net.title} has no trained weights here, so only the random-weight field is shown; "
                   "EfficientNet-Lite0/1/2 have real ImageNet weights.")


# --- 3 · the lecture's toy stack -----------------------------------------------------------------------------

def _toy(layers: int, kernel: int, stride: int, dilation: int) -> tuple[list[int], list[np.ndarray] | str]:
    def compute() -> tuple[list[int], list[np.ndarray] | str]:
        sizes = rf_lecture.growth(layers, kernel, stride, dilation)
        try:
            return sizes, rf_lecture.path_counts(layers, kernel, stride, dilation)
        except ValueError as exc:
            return sizes, str(exc)

    return shared(("rf toy", layers, kernel, stride, dilation), compute)


def _compare(channels: int, small: int) -> tuple[rf_lecture.StackFacts, rf_lecture.StackFacts]:
    return shared(("rf 3x3 vs 5x5", channels, small), lambda: rf_lecture.small_vs_large(channels, small))


def toy() -> None:
    c = st.columns(4)
    layers = c[0].slider("Layers L", 1, 6, 3, key="rf_L", bind="query-params")
    kernel = c[1].slider("Kernel K", 1, 7, 3, key="rf_K", bind="query-params")
    stride = c[2].slider("Stride S", 1, 3, 1, key="rf_S", bind="query-params")
    dilation = c[3].slider("Dilation D", 1, 3, 1, key="rf_D", bind="query-params")
    sizes, counts = _toy(layers, kernel, stride, dilation)
    st.markdown(f"**Receptive field:** {rf_lecture.formula_text(layers, kernel, stride, dilation)} px. Layer by "
                f"layer: {' → '.join(map(str, sizes))} px.")
    if isinstance(counts, str):
        st.info(counts)
    else:
        st.plotly_chart(figs.toy_figure(counts, sizes), key="rf_toy_fig")
        reached = int((counts[-1] > 0).any(axis=0).sum())
        st.caption(f"The sizes are read from a real PyTorch stack of {layers} Conv2d layers by "
                   f"explorer.receptive_fields.fields; back-propagating through it (every weight 1) reaches {reached}×{reached} "
                   "input pixels. Each number counts the paths from that pixel to the centre unit: pixels near the "
                   "centre have far more, which is why the effective field is smaller than the box.")

    st.subheader("Two 3×3 convolutions or one 5×5?")
    c1, c2 = st.columns(2)
    small = c1.select_slider("3×3 convolutions stacked", [2, 3, 4], 2, key="rf_n", bind="query-params")
    channels = c2.select_slider("Channels (in = out)", [16, 32, 64, 128, 256, 512], 64, key="rf_C",
                                bind="query-params")
    a, b = _compare(channels, small)
    st.dataframe(pd.DataFrame({
        "": ["receptive field (px)", "parameters", "non-linearities (ReLU)", "multiply-adds on a 56×56 map"],
        a.name: [f"{v:,}" for v in (a.field, a.params, a.nonlinearities, a.macs)],
        b.name: [f"{v:,}" for v in (b.field, b.params, b.nonlinearities, b.macs)],
        "ratio": [f"{a.field / b.field:.2g}", f"{a.params / b.params:.2f}", f"{a.nonlinearities / b.nonlinearities:g}",
                  f"{a.macs / b.macs:.2f}"]}), hide_index=True, key="rf_cmp_table")
    st.caption(f"Lecture 3: not the same. Both see {a.field}×{a.field} px, but the {a.name} stack has "
               f"{1 - a.params / b.params:.0%} fewer parameters and {a.nonlinearities} non-linearities instead of "
               f"{b.nonlinearities}. Parameters count weights and biases; multiply-adds count the convolutions only.")
