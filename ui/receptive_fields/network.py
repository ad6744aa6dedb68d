"""The receptive-fields page's network: which one (a zoo model or your own), and how its fields grow with depth.

Widget keys start with "rf_" and are mirrored in the URL.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.receptive_fields import figures as figs
from explorer.models import registry
from explorer.receptive_fields import fields as rf
from explorer.receptive_fields import inputs as rf_inputs
from explorer.training.config import CUSTOM
from ui import address, presenter
from ui.models import model_picker
from ui.safe_text import md
from ui.receptive_fields import data, unit


def _new_model() -> None:
    """A new network starts at its default layer, centre unit and mean map. The widgets are bound to the URL,
    so their values are set (Streamlit refuses to delete a bound parameter), which also clears the URL."""
    key = st.session_state["rf_model"]
    if key == CUSTOM:
        config = data.custom_config()[0]
        side = tuple(data.cn.from_config(config)[1][1:])
    else:
        config, side = None, (registry.info(key).input_size,) * 2
        st.session_state["rf_size"] = side[0]
    fields = data.fields(key, side, config)
    f = rf.find(fields, rf.default_layer(fields))
    st.session_state["rf_layer"] = f.name
    st.session_state["rf_row"], st.session_state["rf_col"] = f.output_size[0] // 2, f.output_size[1] // 2
    st.session_state["rf_map"] = unit.MEAN_MAP
    st.session_state.pop("rf_point", None)


def network() -> data.Net:
    """Model and input-size widgets; the chosen network."""
    config, problem = data.custom_config()
    address.handled("rf_net")
    asked_custom = st.query_params.get("rf_model") == CUSTOM
    if asked_custom and not config:
        address.handled("rf_model")  # said below, with the reason
    names = registry.list_models() + ([CUSTOM] if config else [])
    c1, c2, c3 = st.columns([2, 1, 3])
    with c1:
        key = model_picker("Model", names, key="rf_model", on_change=_new_model,
                           help="Fields depend on the architecture only; the maps and the effective field use "
                                "the weights (models marked \"untrained here\" have random ones).")
    if problem:  # the message may quote the address
        st.error(md(problem, None), icon=":material/block:")
    elif asked_custom and not config:
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


@st.fragment
def growth(net: data.Net, fields: list[rf.LayerRF]) -> None:
    series = {net.title: fields}
    for other in st.session_state.get("rf_cmp", []) if net.key != CUSTOM else []:
        if other != net.key:
            side = registry.info(other).input_size
            series[data.title(other)] = data.fields(other, (side, side))
    st.plotly_chart(presenter.figure(figs.growth_figure(series, net.side[0]), fit=370), key="rf_growth")
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
            "whole image (global pooling)": f.global_context} for f in fields]), hide_index=True, key="rf_table",
            column_config={"layer": st.column_config.Column(pinned=True)})
