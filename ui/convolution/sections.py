"""Sections of the convolution-arithmetic page (app_pages/conv_arithmetic.py is their table of contents).

Each section draws one part of a computed setting (`worked_example.Lab`): the three numbers, the animated
sliding window, the formulas with this setting's numbers, the multi-channel sums and the typed values.
"""

from __future__ import annotations

import streamlit as st

from explorer.convolution import worked_example as L
from explorer.convolution import figures as figs
from explorer.figures.large_text import enlarged, one_row, stacked_menus, without_slider
from explorer.figures.raw import RawFigure
from streamlit.delta_generator import DeltaGenerator
from ui import guess, presenter
from ui.convolution import widgets as w


@st.cache_resource(max_entries=32, show_spinner=False)
def view(s: L.Settings) -> tuple[L.Lab, RawFigure, RawFigure]:
    """Everything the page draws for one setting, computed once for the whole class (one link, one setting)."""
    lab = L.compute(s)  # the menus on two rows: on one, play, step and speed overlapped at 150% zoom
    return lab, stacked_menus(figs.sliding_window_figure(lab)), figs.multichannel_figure(lab)


@st.cache_resource(max_entries=16, show_spinner=False)
def presented(s: L.Settings) -> tuple[RawFigure, RawFigure]:
    """The sliding window and the multi-channel figure of `view(s)` with chart text of at least 18 px (presenter
    mode), once per setting."""
    _, fig, multi = view(s)
    return one_row(without_slider(enlarged(fig)), hidden=1, row_px=66), enlarged(multi)  # menu 1: the speed


def stage(present: bool) -> tuple[DeltaGenerator, DeltaGenerator | None, DeltaGenerator]:
    """Where the numbers, the settings beside the picture (presenter mode only) and the picture go, in order."""
    if not present:
        return st.container(), None, st.container()
    beside, picture = st.columns([1, 3], gap="medium")
    return beside.container(), beside, picture.container()  # the numbers over the settings, the picture from the top


def numbers(lab: L.Lab) -> bool:
    """Output size, parameters and multiply-adds, in big digits; for a transposed convolution, how it is drawn.

    In guess-first mode (`ui.guess`) they wait for the student's guess and Reveal. Returns whether they are shown.
    """
    s = lab.s
    oh, ow = lab.out.shape[1:]
    answers = [guess.Answer("output height O_h", int(lab.out_shape[-2])),
               guess.Answer("output width O_w", int(lab.out_shape[-1]))]
    if not lab.pooling:
        answers += [guess.Answer("parameters", int(L.params(s))), guess.Answer("multiply-adds", int(L.macs(lab)))]
    if guess.hidden("ca", "What comes out of this layer" + ("?" if lab.pooling else ", and what does it cost?"),
                    answers):
        return False
    # In presenter mode they sit in the narrow column beside the picture, one under the other.
    c1, c2, c3 = [st.container()] * 3 if presenter.active() else st.columns(3)
    # Short labels: a metric's label never wraps, and the formulas were cut at 150% zoom (they are in the help).
    c1.metric("Output size", " × ".join(f"{n:,}" for n in lab.out_shape), help="C_out × O_h × O_w")
    c2.metric("Parameters", f"{L.params(s):,}", help="(K·K·C_in + 1)·C_out: weights and one bias per filter")
    c3.metric("Multiply-adds", f"{L.macs(lab):,}", help="K·K·C_in per output value, times C_out × O_h × O_w")

    if s.op == L.TCONV:
        st.info(f"**Transposed convolution**: the {s.h}×{s.w} **input** (blue cells) maps to the {oh}×{ow} **output**. "
                "It is drawn as the equivalent stride-1 convolution: S − 1 zeros go between the input cells (yellow), "
                + (f"D·(K−1) − P = {lab.offset} cells of zeros around them" if lab.offset >= 0 else
                   f"the result is cropped by P − D·(K−1) = {-lab.offset} cell(s) on each side")
                + ", and the window carries the kernel flipped 180°.",
                icon=":material/swap_vert:")
    return True


def animation(lab: L.Lab, fig: RawFigure) -> None:
    """The sliding window (played in the browser) and the legend of its colours."""
    s = lab.s
    st.plotly_chart(fig, key="ca_anim", theme=None, config={"displayModeBar": False})
    shown = len(fig.raw_frames)
    st.caption("Blue: input · grey: padding (zeros" + (", −∞ for max pooling" if s.op == L.MAX else "") + ")"
               + (" · yellow: zeros inserted between input cells by the stride" if s.op == L.TCONV else "")
               + (" · orange: cells no window ever covers" if lab.uncovered_rows or lab.uncovered_cols else "")
               + ("" if lab.pooling or not figs.numbers_shown(lab) else " · red subscripts: the kernel weights under "
                  "the window") + ". "
               + ("" if figs.numbers_shown(lab) else "At this size the cells are too small for their numbers: hover a "
                  "cell to read its value, and the written-out sum below the grids shows every term. ")
               + "Play, pause and step run in your browser; drag the slider to jump through the output cells."
               + (f" This setting has {len(lab.steps):,} output cells: the animation covers the first {shown:,}, "
                  "the output maps below show them all." if shown < len(lab.steps) else "")
               + (f" The layer has {s.cout:,} filters: the pictures draw the first {len(lab.out)}; the counts below use "
                  "all of them." if s.cout > len(lab.out) else ""))


def formulas(lab: L.Lab, shown: bool = True) -> None:
    """Size, inverse size, parameter and multiply-add formulas with this setting's numbers, and the torch code
    (not while a guess is pending, `shown` False: they would give the answers away)."""
    s = lab.s
    oh, ow = lab.out.shape[1:]
    st.subheader("Formulas, with the numbers of this setting")
    if not shown:
        st.caption("They give the answers away: they appear once you pressed Reveal above.")
        return
    note = L.divisibility_note(lab)
    if note:
        st.warning(note, icon=":material/warning:")
    for n, o, axis in ((s.h, oh, "h"), (s.w, ow, "w"))[: 1 if (s.h == s.w) else 2]:
        st.latex(L.size_formula(n, s, lab.padding, axis))
        st.latex(L.inverse_formula(o, s, lab.padding, axis))
    if s.op != L.TCONV:
        st.caption("The lecture writes O = (I − K + 2P)/S + 1: the same formula for dilation 1, where the division "
                   "is rounded down (the floor) when S does not divide I − K + 2P.")
    if lab.pooling:
        st.markdown("Pooling has **no parameters** and no multiply-adds: each output is the "
                    f"{'maximum' if s.op == L.MAX else 'mean'} of its window, channel by channel.")
    else:
        st.latex(L.params_formula(s))
        if s.op == L.TCONV:
            st.latex(rf"\text{{multiply-adds}} = I_h\cdot I_w\cdot K\cdot K\cdot C_{{in}}\cdot C_{{out}} = {s.h}\cdot{s.w}"
                     rf"\cdot{s.k}\cdot{s.k}\cdot{s.cin}\cdot{L.tex_int(s.cout)} = {L.tex_int(L.macs(lab))}")
            st.caption(f"Each input cell is multiplied by the whole kernel once; the equivalent convolution drawn above "
                       f"does O_h·O_w·K·K·C_in·C_out = {oh * ow * s.k * s.k * s.cin * s.cout:,} multiply-adds, most "
                       "of them on inserted zeros.")
        else:
            st.latex(rf"\text{{multiply-adds}} = O_h\cdot O_w\cdot K\cdot K\cdot C_{{in}}\cdot C_{{out}} = {oh}\cdot{ow}"
                     rf"\cdot{s.k}\cdot{s.k}\cdot{s.cin}\cdot{L.tex_int(s.cout)} = {L.tex_int(L.macs(lab))}")
            st.caption("FLOPs are usually counted as 2 × multiply-adds (one multiplication and one addition each).")
    st.code(L.torch_code(lab), language="python", wrap_lines=True)
    sizes = L.chain(s, lab.padding, s.h)
    if len(sizes) > 2:
        st.markdown("The same layer applied again and again: " + " → ".join(map(str, sizes))
                    + (" (then impossible)" if len(sizes) < 6 else " …"))


def multichannel(lab: L.Lab, multi: RawFigure) -> None:
    """Per-channel partial sums adding up to each output map."""
    st.subheader("Multi-channel view")
    st.markdown("Each input channel has its own kernel slice; the per-channel results (partial sums) are added, "
                "plus the filter's bias, to give one output map. Each filter gives one output map."
                if not lab.pooling else "Pooling works on each channel separately: one output channel per input channel.")
    st.plotly_chart(multi, key="ca_multi", theme=None, config={"displayModeBar": False})


def typed_values(lab: L.Lab) -> None:
    """Editors for typed input and kernel values (shown when the setting asks for them)."""
    s = lab.s
    if s.x_mode == "typed" or s.w_mode == "typed":
        st.subheader("Typed values")
        st.caption("Edit a cell and press Enter; the values go into the address bar.")
        if s.x_mode == "typed":
            w.grid_editors("Input", "ca_xv", lab.x, [f"channel {c + 1}" for c in range(s.cin)])
        if s.w_mode == "typed" and not lab.pooling:
            w.grid_editors("Kernels", "ca_wv", lab.kernels.reshape(-1, s.k, s.k),
                           [f"filter {f + 1}, channel {c + 1}" for f in range(len(lab.kernels)) for c in range(s.cin)])
