"""Architectures: where a network's memory, parameters and compute go, layer by layer (lectures 3-4)."""

import streamlit as st

from ui import guess, presenter
from ui.architectures import builder as arch_builder, lecture as arch_lecture
from ui.architectures import sections as sec
from explorer.models import registry

st.title("Architectures")
presenter.intro("Shapes, parameters, activation memory and multiply-adds of every layer, computed live by running "
                "the network on PyTorch's *meta* device: no weights are allocated, so even VGG-16 profiles in "
                "milliseconds.")

tabs = st.tabs(["One model", "Compare models", "Lecture tables", "Calculators", "Build your own"],
               key="ar_tab", bind="query-params")
guess.toggle()  # guess first: the calculators' results wait for a guess (?guess=1)

if tabs[0].open:
    with tabs[0]:
        names = registry.list_models()
        c1, c2, c3 = st.columns([2, 1, 1])
        name = c1.selectbox("Model", names, index=names.index("vgg16"), key="ar_model", bind="query-params",
                            on_change=sec.reset_size)
        entry = registry.info(name)
        size = c2.number_input("Input size (px)", value=entry.input_size, step=1, key="ar_size", bind="query-params",
                               help=f"{entry.title}'s weights use {entry.input_size} px (at most 2,048).")
        batch = c3.number_input("Batch size", value=1, step=1, key="ar_batch", bind="query-params",
                                help="1 to 512 images.")
        try:
            prof = sec.cached_profile(name, int(size), int(batch))
        except ValueError as exc:
            st.error(str(exc), icon=":material/block:")
        else:
            sec.profile_view(prof, f"{entry.title} at {size}×{size}, batch {batch}", "ar")
            sec.training_memory_view(prof, "ar")

if tabs[1].open:
    with tabs[1]:
        sec.comparison_view()

if tabs[2].open:
    with tabs[2]:
        arch_lecture.lecture_tables()

if tabs[3].open:
    with tabs[3]:
        arch_lecture.calculators()

if tabs[4].open:
    with tabs[4]:
        arch_builder.builder()
