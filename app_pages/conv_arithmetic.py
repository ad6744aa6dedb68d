"""Convolution arithmetic: an animated sliding window, the multi-channel sums and the size formulas."""

import streamlit as st

from ui import guess, presenter
from ui.convolution import sections, widgets
from ui.safe_text import md

present = presenter.on()  # ?present=1: intro folded, geometry beside the picture, 18 px chart text
st.title("Convolution arithmetic")
presenter.intro("Watch the window slide: every output cell is a sum of products of the cells under the window and "
                "the kernel's weights (the small red numbers), plus a bias. Change any setting in the sidebar; "
                "the address bar keeps them all, so a link opens this exact view.")
widgets.presets(st.sidebar if present else st)
numbers_slot, beside, picture = sections.stage(present)
settings = widgets.settings_sidebar(beside)
guess.toggle()

try:
    lab, fig, multi = sections.view(settings)
    fig, multi = sections.presented(settings) if present else (fig, multi)
except ValueError as err:
    st.error(md(err, None), icon=":material/block:")  # may quote the typed values
    st.stop()
with numbers_slot:
    shown = sections.numbers(lab)
with picture:
    sections.animation(lab, fig)
sections.formulas(lab, shown)
sections.multichannel(lab, multi)
sections.typed_values(lab)
