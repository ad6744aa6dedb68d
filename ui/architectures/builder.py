"""Build-your-own network on the Architectures page: an editable layer list, live shapes, table, charts, code.

The network is kept in `st.session_state["custom_network"]` (a plain list of layer dicts, see
explorer.models.custom_net) with its input shape in `st.session_state["custom_network_input"]`, so the
Transfer-learning page can build it with `custom_net.build(spec, input_shape)` and train it. It is
also mirrored in the URL (`ar_net`) when the compact text fits.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from explorer.models import custom_net as cn
from explorer.architecture.profiling import profile
from ui import address
from ui.architectures.sections import profile_view
from ui.safe_text import md

URL_LIMIT = 1500  # characters of ar_net kept in the address
COLUMNS = ["layer", "size", "kernel", "stride", "padding", "p"]
PRESETS = {
    "Lecture CNN (28×28 digits)": ((1, 28, 28), cn.LECTURE_CNN),
    "Small ResNet (32×32 colour)": ((3, 32, 32), [
        {"layer": "Conv2d", "size": 16, "kernel": 3, "stride": 1, "padding": 1}, {"layer": "BatchNorm"},
        {"layer": "ReLU"}, {"layer": "Residual", "size": 16, "stride": 1}, {"layer": "Residual", "size": 32, "stride": 2},
        {"layer": "Residual", "size": 64, "stride": 2}, {"layer": "GlobalAvgPool"}, {"layer": "Linear", "size": 10}]),
    "Lecture MLP (28×28 digits)": ((1, 28, 28), [
        {"layer": "Flatten"}, {"layer": "Linear", "size": 256}, {"layer": "ReLU"}, {"layer": "Linear", "size": 10}]),
}


def _frame(spec: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{c: layer.get(c) for c in COLUMNS} for layer in spec], columns=COLUMNS)


def _spec(frame: pd.DataFrame) -> list[dict]:
    """Editor rows -> plain spec (only the fields each layer type uses; blank rows dropped)."""
    spec = []
    for row in frame.to_dict("records"):
        kind = row.get("layer")
        if not isinstance(kind, str) or not kind:
            continue
        layer = {"layer": kind}
        for f in cn.FIELDS.get(kind, ()):
            value = row.get(f)
            if value is not None and not pd.isna(value):
                layer[f] = float(value) if f == "p" else int(value)
        spec.append(layer)
    return spec


def _load(input_shape: tuple[int, ...], spec: list[dict]) -> None:
    st.session_state["ar_b_base"] = _frame(spec)
    st.session_state["ar_b_version"] = st.session_state.get("ar_b_version", 0) + 1
    st.session_state["ar_b_c"], st.session_state["ar_b_h"], st.session_state["ar_b_w"] = input_shape


def _address_network(text: str) -> list[dict]:
    """The network `ar_net` of a shared address, if it reads and fits `explorer.models.budget` at the input the
    address asks for (`ar_b_c`, `ar_b_h`, `ar_b_w`; checked on the meta device). Raises ValueError otherwise."""
    def number(key: str, default: int) -> int:
        try:
            return int(st.query_params.get(key, default))
        except ValueError:
            return default  # its widget starts at the default too

    spec = cn.from_text(text)
    shape = (number("ar_b_c", 1), number("ar_b_h", 28), number("ar_b_w", 28))
    cn.from_config(cn.to_config(spec, shape))
    return spec


def builder() -> None:
    if "ar_b_base" not in st.session_state:
        spec, error = cn.LECTURE_CNN, None
        address.handled("ar_net")
        if st.query_params.get("ar_net"):
            try:
                spec = _address_network(st.query_params["ar_net"])
            except ValueError as exc:
                error = str(exc)
        st.session_state["ar_b_base"] = _frame(spec)
        if error:
            st.error(md(error, None) + " Starting from the lecture's CNN instead.")

    st.markdown("Each row is a layer; input channels and features follow from the row above. Pick a type in "
                "the first column, set the numbers it uses (others are ignored), add rows at the bottom.")
    preset_cols = st.columns(len(PRESETS))
    for col, (label, (shape, spec)) in zip(preset_cols, PRESETS.items()):
        col.button(label, key=f"ar_b_preset_{label[:10]}", on_click=_load, args=(shape, spec))
    c = st.columns(3)
    chans = c[0].number_input("Input channels", 1, 64, 1, key="ar_b_c", bind="query-params")
    height = c[1].number_input("Input height", 1, 1024, 28, key="ar_b_h", bind="query-params")
    width = c[2].number_input("Input width", 1, 1024, 28, key="ar_b_w", bind="query-params")
    input_shape = (int(chans), int(height), int(width))

    edited = st.data_editor(
        st.session_state["ar_b_base"], num_rows="dynamic", hide_index=False,
        key=f"ar_b_editor_{st.session_state.get('ar_b_version', 0)}",
        column_config={
            "layer": st.column_config.SelectboxColumn("layer", options=cn.LAYER_TYPES, required=True),
            "size": st.column_config.NumberColumn("size", help="Conv2d/Residual: output channels; Linear: units",
                                                  min_value=1, step=1),
            "kernel": st.column_config.NumberColumn("kernel", min_value=1, step=1),
            "stride": st.column_config.NumberColumn("stride", min_value=1, step=1),
            "padding": st.column_config.NumberColumn("padding", min_value=0, step=1),
            "p": st.column_config.NumberColumn("p", help="Dropout probability", min_value=0.0, max_value=0.99),
        })
    spec = _spec(edited)
    st.session_state["custom_network"] = spec
    st.session_state["custom_network_input"] = input_shape
    try:
        with torch.device("meta"):
            model, shapes = cn.build_with_shapes(spec, input_shape)
        code = cn.to_code(spec, input_shape)
        text = cn.to_text(spec)
    except cn.LayerShapeError as exc:
        st.error(str(exc))
        return
    if len(text) <= URL_LIMIT:
        st.query_params["ar_net"] = text
    elif "ar_net" in st.query_params:
        del st.query_params["ar_net"]
    st.markdown("**Shapes:** " + " → ".join(cn.format_shape(s) for s in [input_shape, *shapes]))
    prof = profile(model.eval(), input_shape)
    profile_view(prof, "Your network", "ar_b")
    with st.expander("Export as PyTorch code"):
        st.code(code, language="python")
        st.download_button("Download network.py", code.encode(), "network.py", "text/x-python",
                           key="ar_b_code_dl", on_click="ignore")
    st.caption("This network stays in your session: the Transfer-learning page can train it from scratch.")
