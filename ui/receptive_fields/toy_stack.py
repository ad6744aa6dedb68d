"""The lecture's toy stack: L layers of K×K with stride and dilation, and "two 3×3 vs one 5×5".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.receptive_fields import figures as figs
from explorer.receptive_fields import lecture as rf_lecture
from ui import guess, presenter
from ui.models import shared


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


@st.fragment
def toy() -> None:
    """L layers of K×K (stride S, dilation D): the field's growth and the paths to the centre unit; in guess-first
    mode (`ui.guess`) the field's size waits for a guess and Reveal."""
    c = st.columns(4)
    layers = c[0].slider("Layers L", 1, 6, 3, key="rf_L", bind="query-params")
    kernel = c[1].slider("Kernel K", 1, 7, 3, key="rf_K", bind="query-params")
    stride = c[2].slider("Stride S", 1, 3, 1, key="rf_S", bind="query-params")
    dilation = c[3].slider("Dilation D", 1, 3, 1, key="rf_D", bind="query-params")
    sizes, counts = _toy(layers, kernel, stride, dilation)
    if guess.hidden("rf_toy", "How many pixels wide is the receptive field of the last layer's unit?",
                    [guess.Answer("receptive field (px)", int(sizes[-1]))]):
        _compare_section()
        return
    st.markdown(f"**Receptive field:** {rf_lecture.formula_text(layers, kernel, stride, dilation)} px. Layer by "
                f"layer: {' → '.join(map(str, sizes))} px.")
    if isinstance(counts, str):
        st.info(counts)
    else:
        st.plotly_chart(presenter.figure(figs.toy_figure(counts, sizes)), key="rf_toy_fig")
        reached = int((counts[-1] > 0).any(axis=0).sum())
        st.caption(f"The sizes are read from a real PyTorch stack of {layers} Conv2d layers by "
                   f"explorer.receptive_fields.fields; back-propagating through it (every weight 1) reaches {reached}×{reached} "
                   "input pixels. Each number counts the paths from that pixel to the centre unit: pixels near the "
                   "centre have far more, which is why the effective field is smaller than the box.")
    _compare_section()


def _compare_section() -> None:
    """Two 3×3 convolutions against one 5×5: field, parameters, non-linearities and multiply-adds."""
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
                  f"{a.macs / b.macs:.2f}"]}), hide_index=True, key="rf_cmp_table",
        column_config={"": st.column_config.Column(pinned=True)})
    st.caption(f"Lecture 3: not the same. Both see {a.field}×{a.field} px, but the {a.name} stack has "
               f"{1 - a.params / b.params:.0%} fewer parameters and {a.nonlinearities} non-linearities instead of "
               f"{b.nonlinearities}. Parameters count weights and biases; multiply-adds count the convolutions only.")
