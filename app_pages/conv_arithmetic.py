"""Convolution arithmetic: an animated sliding window, the multi-channel sums and the size formulas."""

import streamlit as st

from ui.convolution import sections, widgets
from ui.safe_text import md

st.title("Convolution arithmetic")
st.markdown("Watch the window slide: every output cell is a sum of products of the cells under the window and "
            "the kernel's weights (the small red numbers), plus a bias. Change any setting in the sidebar; "
            "the address bar keeps them all, so a link opens this exact view.")
widgets.presets()
settings = widgets.settings_sidebar()

try:
    lab, fig, multi = sections.view(settings)
except ValueError as err:
    st.error(md(err, None), icon=":material/block:")  # may quote the typed values
    st.stop()
sections.numbers(lab)
sections.animation(lab, fig)
sections.formulas(lab)
sections.multichannel(lab, multi)
sections.typed_values(lab)
