"""The Architectures page's lecture tables and calculators (lectures 1, 3 and 4), live beside the lecture."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer import calculators as calc
from explorer import lecture_tables as lt
from explorer.profiling import CONVENTION
from ui.arch_sections import convention, layer_table


@st.cache_resource(show_spinner="Recomputing the lecture's tables…")
def lecture_tables_data() -> dict:
    """The lecture's tables recomputed live, once per server (read-only, shared)."""
    stem, stem_totals = lt.googlenet_stem_table()
    return {"alexnet": lt.alexnet_table(), "vgg": lt.vgg16_table(), "vgg_totals": lt.vgg16_totals(),
            "stem": stem, "stem_totals": stem_totals, "resnet": lt.resnet_table()}


def _show(frame: pd.DataFrame, key: str) -> None:
    fmt = {c: st.column_config.NumberColumn(format="%.1f") for c in frame.columns
           if c.startswith("live") and frame[c].dtype.kind == "f"}
    st.dataframe(frame, hide_index=True, key=key, column_config={**fmt, "note": st.column_config.TextColumn(width="large")})
    notes = [f"**{row[frame.columns[0]]}:** {row['note']}" for _, row in frame.iterrows() if row.get("note")]
    if notes:
        st.markdown("\n".join(f"- {n}" for n in notes))


def lecture_tables() -> None:
    t = lecture_tables_data()
    st.markdown("The lecture counts multiply-adds and calls them *flop*; the app says **MACs** and counts "
                "the same thing. Memory is KiB of float32 outputs. Each disagreement is explained below its table.")
    convention()
    st.subheader("AlexNet (lecture 3), torchvision's AlexNet at 227 × 227")
    _show(t["alexnet"], "ar_lt_alexnet")
    st.subheader("VGG-16 memory and parameters (lecture 3), at 224 × 224")
    _show(t["vgg"], "ar_lt_vgg")
    v = t["vgg_totals"]
    cols = st.columns(3)
    cols[0].metric("Lecture's total", f"{v['lecture total values'] / 1e6:.0f} M values",
                   f"≈ {v['lecture total MB']} MB", delta_color="off")
    listed = v["sum of the lecture's rows"]
    cols[1].metric("Sum of the lecture's rows", f"{listed / 1e6:.1f} M values", f"≈ {listed * 4 / 1e6:.0f} MB",
                   delta_color="off")
    cols[2].metric("Live (PyTorch)", f"{v['live values'] / 1e6:.1f} M values", f"≈ {v['live MB']:.0f} MB",
                   delta_color="off")
    st.caption(lt.VGG16_TOTAL_NOTE + f" Parameters: {v['live params']:,} live, the lecture's 138 M.")
    st.subheader("GoogLeNet's stem: 224 → 28 (lecture 3)")
    _show(t["stem"], "ar_lt_stem")
    st.dataframe(t["stem_totals"], hide_index=True, key="ar_lt_stem_totals")
    st.caption(lt.GOOGLENET_TOTALS_NOTE)
    st.subheader("The ResNet family (lecture 3)")
    _show(t["resnet"], "ar_lt_resnet")
    st.caption("Top-5 errors are torchvision's IMAGENET1K_V1 weights (the original training recipe).")


def _calc(result: calc.Calculation, key: str) -> None:
    frame = result.to_frame()
    st.dataframe(frame, hide_index=True, key=key, column_config={
        c: st.column_config.NumberColumn(format="localized") for c in frame.columns if frame[c].dtype.kind in "iuf"})


def calculators() -> None:
    st.caption("Each panel states the lecture's formula, evaluates it, and builds the layers in PyTorch to count "
               "them live. " + f"Compute: {CONVENTION}.")

    with st.expander("A dense layer on an image against a convolution (lecture 1)", expanded=True):
        c = st.columns(5)
        h = c[0].number_input("height", 1, 4096, 640, key="ar_c1_h", bind="query-params")
        w = c[1].number_input("width", 1, 4096, 480, key="ar_c1_w", bind="query-params")
        ch = c[2].number_input("channels", 1, 64, 3, key="ar_c1_c", bind="query-params")
        units = c[3].number_input("units / filters", 1, 4096, 1000, key="ar_c1_u", bind="query-params")
        k = c[4].number_input("conv kernel", 1, 11, 3, key="ar_c1_k", bind="query-params")
        r = calc.dense_vs_conv(int(h), int(w), int(ch), int(units), int(k), int(units))
        _calc(r, "ar_c1_table")
        rows = r.rows
        st.markdown(f"The dense layer needs **{rows[0]['live']:,}** parameters, the convolution "
                    f"**{rows[1]['live']:,}** ({rows[0]['live'] / rows[1]['live']:,.0f}× fewer): its weights are "
                    "shared across positions. The lecture rounds 921,601,000 to \"922M\".")

    with st.expander("The lecture's MLP against its CNN on 28 × 28 digits (lecture 1)"):
        mlp, cnn = calc.mlp_vs_cnn()
        c1, c2 = st.columns(2)
        with c1:
            st.code("nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),\n"
                    "              nn.Linear(256, 10), nn.Softmax(dim=1))", language="python")
            st.metric("MLP parameters", f"{mlp.params:,}")
            st.metric("MLP MACs", f"{mlp.macs:,}", help=CONVENTION)
        with c2:
            st.code("nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2, 2),\n"
                    "              nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),\n"
                    "              nn.Linear(1600, 256), nn.ReLU(), nn.Linear(256, 10), nn.Softmax(dim=1))",
                    language="python")
            st.metric("CNN parameters", f"{cnn.params:,}")
            st.metric("CNN MACs", f"{cnn.macs:,}", help=CONVENTION)
        st.markdown(f"On a 28 × 28 input the CNN has **more** parameters ({cnn.params / mlp.params:.1f}×) and does "
                    f"{cnn.macs / mlp.macs:.0f}× the multiply-adds, but it keeps the 2-D layout until Flatten and "
                    f"shares its filters: {cnn.layers[0].params + cnn.layers[3].params:,} of its parameters are "
                    "convolution weights, the rest sit in the first dense layer on the 64 × 5 × 5 features.")
        layer_table(cnn.to_frame(), "ar_c2_cnn", "lecture_cnn.csv")

    with st.expander("One 5 × 5 convolution against two 3 × 3 ones"):
        c = st.columns(2)
        ch = c[0].number_input("channels C", 1, 1024, 64, key="ar_c3_c", bind="query-params")
        size = c[1].number_input("feature map size", 1, 512, 56, key="ar_c3_s", bind="query-params")
        r = calc.one_5x5_vs_two_3x3(int(ch), int(size))
        _calc(r, "ar_c3_table")
        st.markdown("Both see a 5 × 5 window of the input; the stack uses 18C² instead of 25C² weights "
                    f"({r.rows[1]['live'] / r.rows[0]['live']:.0%}) and adds a non-linearity in between.")

    with st.expander("A naive Inception module against one with 1 × 1 bottlenecks (28 × 28 × 256)"):
        res = calc.inception()
        c1, c2 = st.columns(2)
        with c1:
            st.markdown(f"**Naive:** {res['naive total'] / 1e6:,.1f} M MACs live, lecture "
                        f"{res['lecture naive'] / 1e6:.0f} M; output depth {res['naive out channels']}")
            _calc(res["naive"], "ar_c4_naive")
        with c2:
            st.markdown(f"**With bottlenecks:** {res['bottleneck total'] / 1e6:,.1f} M MACs live, lecture "
                        f"{res['lecture bottleneck'] / 1e6:.0f} M; output depth {res['bottleneck out channels']}")
            _calc(res["bottleneck"], "ar_c4_bottle")
        st.warning(calc.INCEPTION_NOTE)

    with st.expander("A 5 × 5 convolution 256 → 256 against an Inception branch (lecture 4)"):
        r = calc.conv5_vs_inception_branch()
        _calc(r, "ar_c5_table")
        st.markdown(f"{r.rows[0]['live']:,} against {r.rows[1]['live']:,} weights: the lecture's 1.6 M and 120 k "
                    f"({r.rows[0]['live'] / r.rows[1]['live']:.1f}× fewer); biases left out, as in the lecture.")

    with st.expander("A regular convolution against a depthwise-separable one (MobileNet, lecture 4)"):
        c = st.columns(3)
        m = c[0].number_input("input channels M", 1, 2048, 4, key="ar_c6_m", bind="query-params")
        n = c[1].number_input("output channels N", 1, 2048, 2, key="ar_c6_n", bind="query-params")
        k = c[2].number_input("kernel K", 1, 11, 3, key="ar_c6_k", bind="query-params")
        r = calc.regular_vs_depthwise(int(m), int(n), int(k))
        _calc(r, "ar_c6_table")
        st.markdown(f"Regular O(MK²N) against separable O(MK² + MN): {r.rows[0]['live']:,} against "
                    f"{r.rows[1]['live']:,} weights. The lecture's examples: M=4, N=2 gives 72 against 44; "
                    "M=N=512 gives 2,359,296 (2.4 M) against 266,752 (267 k).")

    with st.expander("A ResNet basic block against a bottleneck block"):
        c = st.columns(2)
        width = c[0].number_input("width C", 1, 1024, 64, key="ar_c7_w", bind="query-params")
        size = c[1].number_input("feature map size", 1, 512, 56, key="ar_c7_s", bind="query-params")
        r = calc.basic_vs_bottleneck(int(width), int(size))
        _calc(r, "ar_c7_table")
        st.markdown(f"The bottleneck block carries 4× the channels ({4 * int(width)}) through three layers for about "
                    f"the parameters and MACs of a basic block on {int(width)} channels ({r.rows[1]['live MACs'] / r.rows[0]['live MACs']:.0%}"
                    " of its MACs): \"more layers, less computational cost\".")
