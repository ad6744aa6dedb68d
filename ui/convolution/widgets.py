"""Widgets of the convolution-arithmetic page: settings bound to the URL, presets, typed values.

Every widget key starts with `ca_` and is its URL query parameter (bind="query-params").
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import streamlit as st

from explorer.convolution import worked_example as L

# Settings field -> widget key (also the URL parameter).
KEYS = {"op": "ca_op", "h": "ca_h", "w": "ca_w", "k": "ca_k", "stride": "ca_stride", "pad_mode": "ca_padmode",
        "pad": "ca_pad", "dilation": "ca_dil", "out_pad": "ca_opad", "cin": "ca_cin", "cout": "ca_cout",
        "x_mode": "ca_x", "w_mode": "ca_w_mode", "bias": "ca_bias", "seed": "ca_seed", "x_text": "ca_xv",
        "w_text": "ca_wv", "filt": "ca_filt"}
Q = {"bind": "query-params"}


def _v(key: str, default: int) -> dict:
    """The default value, only for a widget whose key is not in session state yet (a preset may have set it)."""
    return {} if key in st.session_state else {"value": default}


def current() -> L.Settings:
    """The Settings held in session state (defaults for keys not set yet, and for P and OP where they do not apply)."""
    d = asdict(L.Settings())
    s = L.Settings(**{f: st.session_state.get(k, d[f]) for f, k in KEYS.items()})
    return replace(s, pad=s.pad if s.pad_mode == "custom" else d["pad"],
                   out_pad=s.out_pad if s.op == L.TCONV else d["out_pad"])


def _apply_preset() -> None:
    name = st.session_state.get("ca_preset")
    if name:
        for f, v in asdict(L.preset(name)).items():
            st.session_state[KEYS[f]] = v


def _reshuffle() -> None:
    st.session_state["ca_seed"] = int(st.session_state.get("ca_seed", 0)) + 1


def _start_typing(which: str) -> None:
    """Switching to typed values starts from the random values (not from zeros) when nothing is typed yet."""
    s = current()
    if which == "x" and s.x_mode == "typed" and not s.x_text.strip():
        st.session_state["ca_xv"] = L.format_grids(L.input_values(replace(s, x_mode="random")))
    if which == "w" and s.w_mode == "typed" and not s.w_text.strip():
        st.session_state["ca_wv"] = L.format_grids(L.kernel_values(replace(s, w_mode="random")))


def presets(where=st) -> None:
    """The preset choice (in the page, or in `where`: the sidebar in presenter mode)."""
    where.selectbox("Preset", list(L.PRESETS), index=None, key="ca_preset", on_change=_apply_preset,
                 placeholder="Choose a preset: the lecture's examples and the conv_arithmetic cases…")


def settings_sidebar(beside=None) -> L.Settings:
    """All settings, in the sidebar; the geometry (operation, sizes, kernel, stride, padding, dilation) in `beside`
    instead when given (presenter mode: next to the picture). Returns the Settings they describe."""
    d = L.Settings()
    sb = st.sidebar
    top = beside if beside is not None else sb
    op = top.selectbox("Operation", L.OPERATIONS, key="ca_op", **Q)
    c1, c2 = top.columns(2)
    c1.slider("Input height", 1, L.MAX_SIZE, key="ca_h", **_v("ca_h", d.h), **Q)
    c2.slider("Input width", 1, L.MAX_SIZE, key="ca_w", **_v("ca_w", d.w), **Q)
    top.slider("Kernel size K", 1, L.MAX_K, key="ca_k", **_v("ca_k", d.k), **Q)
    top.slider("Stride S", 1, 4, key="ca_stride", **_v("ca_stride", d.stride), **Q)
    mode = top.radio("Padding", L.PAD_MODES, key="ca_padmode", horizontal=True, **Q,
                     help="'valid' is no padding; 'same' keeps the size (stride 1), like torch's padding='same'.")
    # Padding P and output padding OP appear only where they apply, so the URL carries only live settings.
    if mode == "custom":
        top.slider("Padding P", 0, 4, key="ca_pad", **_v("ca_pad", d.pad), **Q)
    top.slider("Dilation D", 1, 3, key="ca_dil", **_v("ca_dil", d.dilation), **Q)
    if op == L.TCONV:
        top.slider("Output padding OP", 0, 3, key="ca_opad", **_v("ca_opad", d.out_pad), **Q)
    # Number inputs carry no bounds: `conv_lab.compute` refuses an out-of-range value with a message (a bounded
    # widget would keep it in a red box and silently use the previous value).
    c1, c2 = sb.columns(2)
    c1.number_input("Input channels", step=1, key="ca_cin", **_v("ca_cin", d.cin), **Q,
                    help=f"1 to {L.MAX_CIN}: every input channel is drawn.")
    c2.number_input("Output channels", step=1, key="ca_cout", **_v("ca_cout", d.cout), disabled=op in (L.MAX, L.AVG),
                    **Q, help=f"The number of filters N, 1 to {L.MAX_FILTERS:,}. Parameters and multiply-adds count "
                              f"all of them; the pictures draw the first {L.MAX_DRAWN}. Pooling keeps the number of "
                              "channels.")
    sb.number_input(f"Animated output map (1–{L.MAX_DRAWN})", step=1, key="ca_filt", **_v("ca_filt", d.filt), **Q)
    sb.subheader("Values")
    sb.radio("Input values", L.VALUE_MODES, key="ca_x", horizontal=True, on_change=_start_typing, args=("x",), **Q)
    sb.selectbox("Kernel values", L.KERNEL_MODES, key="ca_w_mode", on_change=_start_typing, args=("w",), **Q,
                 help="edge, outline, sharpen and the blurs are the classic 3×3 kernels of lecture 3.")
    sb.radio("Bias", ("zero", "random"), key="ca_bias", horizontal=True, **Q)
    c1, c2 = sb.columns([2, 1], vertical_alignment="bottom")
    c1.number_input("Random seed", step=1, key="ca_seed", **_v("ca_seed", d.seed), **Q, help="0 to 1,000,000.")
    c2.button("Reshuffle", on_click=_reshuffle, key="ca_shuffle")
    with sb.expander("Typed values as text (rows split by '/', channels by '|')"):
        st.text_input("Input", key="ca_xv", **Q)
        st.text_input("Kernels (filter 1 channel 1 | filter 1 channel 2 | …)", key="ca_wv", **Q)
    return current()


def _set_from_editor(editor_key: str, text_key: str, base: np.ndarray, block: int) -> None:
    """data_editor on_change: apply its edited cells to block `block` of the typed text."""
    grids = base.copy()
    for r, cols in st.session_state[editor_key].get("edited_rows", {}).items():
        for c, v in cols.items():
            grids[block, int(r), int(c)] = 0.0 if v is None or pd.isna(v) else float(v)
    st.session_state[text_key] = L.format_grids(grids)


def grid_editors(title: str, text_key: str, grids: np.ndarray, names: list[str]) -> None:
    """One st.data_editor per grid; edits are written to the URL-bound text `text_key`."""
    st.markdown(f"**{title}**")
    cols = st.columns(min(len(names), 4))
    digest = zlib.crc32(grids.tobytes())
    for i, name in enumerate(names):
        key = f"{text_key}_ed{i}_{digest}"
        frame = pd.DataFrame(grids[i], columns=[str(c) for c in range(grids.shape[2])])
        with cols[i % len(cols)]:
            st.caption(name)
            st.data_editor(frame, key=key, hide_index=True, on_change=_set_from_editor,
                           args=(key, text_key, grids, i), width="stretch")
