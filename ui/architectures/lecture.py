"""The Architectures page's lecture tables and calculators (lectures 1, 3 and 4), live beside the lecture."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.architecture import calculators as calc
from explorer.architecture import lecture_tables as lt
from explorer.architecture.profiling import CONVENTION
from explorer.runtime import side_process
from ui.architectures.sections import convention, layer_table
from ui.models import shared


@st.cache_resource(show_spinner="Recomputing the lecture's tables…")
def lecture_tables_data() -> dict:
    """The lecture's tables recomputed live, once per server (read-only, shared), in the side process: the
    meta-device profiles behind them are Python throughout and would hold the pages' GIL for seconds."""
    return side_process.run(lt.all_tables)


def table(frame: pd.DataFrame, key: str, hide: tuple[str, ...] = ("note",)) -> None:
    """A table that reads on a projector: every row shown, the first column pinned while the others scroll,
    thousands separators, floats to 1 decimal (2 for G-figures). Columns in `hide` are left out."""
    shown = frame.drop(columns=[c for c in hide if c in frame.columns])
    for c in shown.columns:  # None among numbers (a figure the lecture does not give) -> an empty cell
        if shown[c].dtype == object and shown[c].map(lambda v: v is None or isinstance(v, (int, float))).all():
            shown[c] = pd.to_numeric(shown[c])
    config = {c: st.column_config.NumberColumn(
        format="localized", step=None if shown[c].dtype.kind in "iu" else 0.01 if "G" in c else 0.1)
        for c in shown.columns if shown[c].dtype.kind in "iuf"}
    config[shown.columns[0]] = st.column_config.Column(pinned=True)
    st.dataframe(shown, hide_index=True, key=key, height="content", placeholder="—", column_config=config)


def _show(frame: pd.DataFrame, key: str) -> None:
    table(frame, key)
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
    st.caption("torchvision's AlexNet, like this table, has 64 filters in conv1; lectures 1–2's original 96 filters "
               "of 11 × 11 × 3 and the dense layer they replace are worked through in the Calculators tab.")
    st.subheader("VGG-16 memory and parameters (lecture 3), at 224 × 224")
    _show(t["vgg"], "ar_lt_vgg")
    v = t["vgg_totals"]
    cols = st.columns(3)
    cols[0].metric("Lecture's total", f"{v['lecture total values'] / 1e6:.0f} M values",
                   f"≈ {v['lecture total MB']} MB", delta_color="off", delta_arrow="off")
    listed = v["sum of the lecture's rows"]
    cols[1].metric("Sum of the lecture's rows", f"{listed / 1e6:.1f} M values", f"≈ {listed * 4 / 1e6:.0f} MB",
                   delta_color="off", delta_arrow="off")
    cols[2].metric("Live (PyTorch)", f"{v['live values'] / 1e6:.1f} M values", f"≈ {v['live MB']:.0f} MB",
                   delta_color="off", delta_arrow="off")
    st.caption(lt.VGG16_TOTAL_NOTE + f" Parameters: {v['live params']:,} live, the lecture's 138 M.")
    st.subheader("GoogLeNet's stem: 224 → 28 (lecture 3)")
    _show(t["stem"], "ar_lt_stem")
    table(t["stem_totals"], "ar_lt_stem_totals")
    st.caption(lt.GOOGLENET_TOTALS_NOTE)
    st.subheader("The ResNet family (lecture 3)")
    _show(t["resnet"], "ar_lt_resnet")
    st.caption("Top-5 errors are torchvision's IMAGENET1K_V1 weights (the original training recipe).")


def _calc(result: calc.Calculation, key: str) -> None:
    table(result.to_frame(), key, hide=())


def _int(col, label: str, default: int, key: str, help: str | None = None) -> int:
    """A whole-number input bound to the URL, without bounds in the widget: the calculator checks the range
    and says what is wrong (a bounded widget keeps an out-of-range entry in a red box and silently uses the
    previous value)."""
    return col.number_input(label, value=default, step=1, key=key, bind="query-params", help=help)


def _try(fn, *args):
    """fn(*args), once per server for the same arguments, or None after showing its ValueError as an error message."""
    try:
        return shared(("calculator", fn.__name__, *args), lambda: fn(*args))
    except ValueError as exc:
        st.error(str(exc), icon=":material/block:")
        return None


def calculators() -> None:
    """The lecture's calculators, each panel a fragment: an input reruns its own panel only (issue 17: every input
    recomputed all nine panels and their tables)."""
    st.caption("Each panel states the lecture's formula, evaluates it, and builds the layers in PyTorch to count "
               "them live. " + f"Compute: {CONVENTION}.")
    _dense_vs_conv()
    _alexnet_conv1()
    _dense_on_image()
    _mlp_vs_cnn()
    _small_vs_large()
    _inception()
    _inception_branch()
    _depthwise()
    _bottleneck()


@st.fragment
def _dense_vs_conv() -> None:
    with st.expander("A dense layer on an image against a convolution (lecture 1)", expanded=True):
        c = st.columns(5)
        args = (_int(c[0], "height", 640, "ar_c1_h"), _int(c[1], "width", 480, "ar_c1_w"),
                _int(c[2], "channels", 3, "ar_c1_c"), _int(c[3], "units / filters", 1000, "ar_c1_u"),
                _int(c[4], "conv kernel", 3, "ar_c1_k"))
        r = _try(calc.dense_vs_conv, *args, args[3])
        if r is not None:
            _calc(r, "ar_c1_table")
            dense, conv = r.rows[0]["live"], r.rows[1]["live"]
            lecture = ("The lecture rounds 921,601,000 to \"922M\"." if args[:4] == (640, 480, 3, 1000) else
                       "The lecture's example, 640 × 480 × 3 → 1,000 units, has 921,601,000 (\"922M\").")
            st.markdown(f"The dense layer needs **{dense:,}** parameters, the convolution **{conv:,}** "
                        f"({dense / conv:,.0f}× fewer): its weights are shared across positions. {lecture}")


@st.fragment
def _alexnet_conv1() -> None:
    with st.expander("AlexNet's first layer against the dense layer with the same output (lectures 1–2)",
                     expanded=True):
        c = st.columns(6)
        args = (_int(c[0], "input size (px)", 227, "ar_ax_size"), _int(c[1], "channels", 3, "ar_ax_c"),
                _int(c[2], "filters", 96, "ar_ax_n"), _int(c[3], "kernel", 11, "ar_ax_k"),
                _int(c[4], "stride", 4, "ar_ax_s"), _int(c[5], "padding", 0, "ar_ax_p"))
        r = _try(calc.alexnet_conv1, *args)
        if r is not None:
            _calc(r, "ar_ax_table")
            conv, dense = r.rows
            st.markdown(f"For the same {conv['output']} output the dense layer needs **{dense['live']:,}** "
                        f"parameters, the convolution **{conv['live']:,}** ({dense['live'] / conv['live']:,.0f}× "
                        "fewer): each filter looks at one small window and is reused at every position.")
        lec = shared(("calculator", "alexnet_lecture_dense"), calc.alexnet_lecture_dense)
        table(lec.to_frame(), "ar_ax_lecture", hide=())
        st.info(calc.alexnet_dense_note(), icon=":material/calculate:")


@st.fragment
def _dense_on_image() -> None:
    with st.expander("A 200 × 200 image into 40 K hidden units (lecture 3)"):
        c = st.columns(4)
        args = (_int(c[0], "height", 200, "ar_fc_h"), _int(c[1], "width", 200, "ar_fc_w"),
                _int(c[2], "channels", 1, "ar_fc_c"), _int(c[3], "hidden units", 40_000, "ar_fc_u"))
        r = _try(calc.dense_on_image, *args)
        if r is not None:
            _calc(r, "ar_fc_table")
            total = r.rows[2]["live"]
            lecture = calc.DENSE_IMAGE_LECTURE
            if args == (lecture["height"], lecture["width"], lecture["channels"], lecture["units"]):
                rgb = calc.dense_on_image(200, 200, 3, 40_000).rows[2]["live"]
                st.markdown(f"The lecture says **≈ 2 B** parameters; the count is **{total / 1e9:.1f} B**: "
                            f"40,000 pixels × 40,000 units = 1,600,000,000 weights, plus 40,000 biases = {total:,}. "
                            f"\"≈ 2 B\" overstates it by {2e9 / total - 1:.0%}. In colour (3 channels) it would be "
                            f"{rgb / 1e9:.1f} B.")
            else:
                st.markdown(f"**{total:,}** parameters ({total / 1e9:,.2f} B). The lecture's example (200 × 200, one "
                            "channel, 40 K units) has 1,600,040,000 (1.6 B), which the lecture gives as \"≈ 2 B\".")


@st.fragment
def _mlp_vs_cnn() -> None:
    with st.expander("The lecture's MLP against its CNN on 28 × 28 digits (lecture 1)"):
        mlp, cnn = shared(("calculator", "mlp_vs_cnn"), calc.mlp_vs_cnn)
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


@st.fragment
def _small_vs_large() -> None:
    with st.expander("One 5 × 5 convolution against two 3 × 3 ones"):
        c = st.columns(2)
        r = _try(calc.one_5x5_vs_two_3x3, _int(c[0], "channels C", 64, "ar_c3_c"),
                 _int(c[1], "feature map size", 56, "ar_c3_s"))
        if r is not None:
            _calc(r, "ar_c3_table")
            st.markdown("Both see a 5 × 5 window of the input; the stack uses 18C² instead of 25C² weights "
                        f"({r.rows[1]['live'] / r.rows[0]['live']:.0%}) and adds a non-linearity in between.")


@st.fragment
def _inception() -> None:
    with st.expander("A naive Inception module against one with 1 × 1 bottlenecks (28 × 28 × 256)"):
        res = shared(("calculator", "inception"), calc.inception)
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


@st.fragment
def _inception_branch() -> None:
    with st.expander("A 5 × 5 convolution 256 → 256 against an Inception branch (lecture 4)"):
        r = shared(("calculator", "conv5_vs_inception_branch"), calc.conv5_vs_inception_branch)
        _calc(r, "ar_c5_table")
        st.markdown(f"{r.rows[0]['live']:,} against {r.rows[1]['live']:,} weights: the lecture's 1.6 M and 120 k "
                    f"({r.rows[0]['live'] / r.rows[1]['live']:.1f}× fewer); biases left out, as in the lecture.")


@st.fragment
def _depthwise() -> None:
    with st.expander("A regular convolution against a depthwise-separable one (MobileNet, lecture 4)"):
        c = st.columns(4)
        r = _try(calc.regular_vs_depthwise, _int(c[0], "input channels M", 4, "ar_c6_m"),
                 _int(c[1], "output channels N", 2, "ar_c6_n"), _int(c[2], "kernel K", 3, "ar_c6_k"),
                 _int(c[3], "feature map size", 14, "ar_c6_s", help="Height and width of the input (and, with "
                      "'same' padding, of the output); the MACs depend on it, the parameters do not."))
        if r is not None:
            _calc(r, "ar_c6_table")
            st.markdown(f"Regular O(MK²N) against separable O(MK² + MN): {r.rows[0]['live']:,} against "
                        f"{r.rows[1]['live']:,} weights. The lecture's examples: M=4, N=2 gives 72 against 44; "
                        "M=N=512 gives 2,359,296 (2.4 M) against 266,752 (267 k).")


@st.fragment
def _bottleneck() -> None:
    with st.expander("A ResNet basic block against a bottleneck block"):
        c = st.columns(2)
        width = _int(c[0], "width C", 64, "ar_c7_w")
        r = _try(calc.basic_vs_bottleneck, width, _int(c[1], "feature map size", 56, "ar_c7_s"))
        if r is not None:
            _calc(r, "ar_c7_table")
            st.markdown(f"The bottleneck block carries 4× the channels ({4 * int(width)}) through three layers for "
                        f"about the parameters and MACs of a basic block on {int(width)} channels "
                        f"({r.rows[1]['live MACs'] / r.rows[0]['live MACs']:.0%} of its MACs): \"more layers, less "
                        "computational cost\".")
