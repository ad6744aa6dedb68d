"""Streamlit sections of the Architectures page (app_pages/architectures.py stays a thin table of contents).

Widget keys start with "ar_" and are mirrored in the URL. Results are cached here, in the page layer.
"""

from __future__ import annotations

import threading
from typing import Callable

import pandas as pd
import streamlit as st

from explorer.architecture import comparison
from explorer.runtime import side_process
from explorer.architecture import figures as figs
from explorer.architecture.profiling import CONVENTION, Profile
from explorer.architecture.training_memory import OPTIMIZER_STATES, training_memory
from explorer.models import registry
from ui import presenter
from ui.models import shared

DEFAULT_COMPARE = ["alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "mobilenet_v2",
                   "efficientnet_b0", "efficientnet_lite0"]
GROUPINGS = ["every layer", "blocks", "stages"]


DEEP_ROWS = 80  # models with more leaf layers than this start grouped by block


def reset_size() -> None:
    """A new model starts at its own crop size (299 px for Inception v3, 32 px for LeNet-5), and deep
    models start grouped by block so that the charts stay readable."""
    name = st.session_state["ar_model"]
    st.session_state["ar_size"] = registry.info(name).input_size
    leaves = sum(1 for row in crop_profile(name).layers if row.type != "(functional)" and " (call " not in row.name)
    st.session_state["ar_group"] = "blocks" if leaves > DEEP_ROWS else "every layer"


def convention() -> None:
    """The counting convention, shown wherever a MAC/FLOP figure appears."""
    st.caption(f"Compute is counted in {CONVENTION}.")


@st.cache_resource(show_spinner="Profiling on the meta device…", max_entries=64)
def native_profile(name: str, size: int) -> Profile:
    """The batch-1 profile of a registry model at one input size, shared by every session (read-only),
    computed in the helper process (`explorer.runtime.side_process`: profiling holds the GIL throughout)."""
    return side_process.run(comparison.profile_model, name, size, 1)


def crop_profile(name: str) -> Profile:
    """The shared batch-1 profile at the model's own crop size (what the comparison and the lecture use)."""
    return native_profile(name, registry.info(name).input_size)


def cached_profile(name: str, size: int, batch: int) -> Profile:
    """The profile at any batch size: the shared batch-1 profile, scaled (no model runs again)."""
    prof = native_profile(name, size)
    return prof if batch == 1 else prof.with_batch(batch)


def layer_table(frame: pd.DataFrame, key: str, file_name: str, csv: bytes | None = None) -> None:
    """Sortable per-layer table with readable units, and its CSV download (`csv`: the frame's CSV, if at hand)."""
    shown = frame.copy()
    shown["activation (KiB)"] = shown.pop("activation bytes") / 1024
    shown["MMACs"] = shown.pop("MACs") / 1e6
    st.dataframe(shown, hide_index=True, key=key, column_config={
        shown.columns[0]: st.column_config.Column(pinned=True),
        "activation (KiB)": st.column_config.NumberColumn(format="localized", step=0.1,
                                                          help="float32 bytes of the output / 1,024"),
        "MMACs": st.column_config.NumberColumn(format="localized", step=0.01, help=f"Millions of {CONVENTION}."),
        "params": st.column_config.NumberColumn(format="localized"),
        "trainable params": st.column_config.NumberColumn(format="localized"),
    })
    st.download_button("Download the table as CSV", csv or frame.to_csv(index=False).encode(), file_name=file_name,
                       mime="text/csv", key=f"{key}_csv", on_click="ignore")


def totals(prof: Profile) -> None:
    cols = st.columns(4)  # short labels: a metric's label never wraps (they were cut at 150% zoom)
    cols[0].metric("Parameters", f"{prof.params:,}")
    cols[1].metric("MACs", f"{prof.macs / 1e9:,.3f} G", help=f"Multiply-adds. {CONVENTION}")
    cols[2].metric("FLOPs", f"{2 * prof.macs / 1e9:,.3f} G", help=f"2 × MACs. {CONVENTION}")
    cols[3].metric("Activations", f"{prof.activation_bytes / 2**20:,.1f} MiB",
                   help="Activation memory: float32 outputs of every layer for the whole batch; in-place and view outputs count once")


def profile_view(prof: Profile, title: str, key: str) -> None:
    """Totals, story, grouping choice, table and the three per-layer charts of one profile."""
    totals(prof)
    chart = st.container()  # ?present=1: the picture right under the numbers; the rest below it
    convention()
    default = GROUPINGS[-1] if presenter.active() else "every layer"  # ?present=1: a chart that fits the screen
    grouping = st.segmented_control("Group rows by", GROUPINGS, default=default, key=f"{key}_group",
                                    bind="query-params") or default
    label = "name" if grouping == "every layer" else "group"

    def build() -> tuple[str, pd.DataFrame, bytes, object]:
        frame = prof.to_frame() if grouping == "every layer" else prof.grouped(2 if grouping == "blocks" else 1)
        return (figs.story(prof), frame, frame.to_csv(index=False).encode(),
                figs.per_layer_bars(frame, label, f"{title}: per {'layer' if label == 'name' else 'group'}"))

    # Built once per server for the same profile and grouping (pandas and the figure cost more than the click).
    fingerprint = (prof.params, prof.macs, prof.activation_bytes, len(prof.layers))
    story, frame, csv, bars = shared(("profile view", key, title, grouping, *fingerprint), build)
    st.markdown(story)
    layer_table(frame, f"{key}_table", f"{key}_{title.replace(' ', '_')}.csv", csv)
    (chart if presenter.active() else st).plotly_chart(presenter.figure(bars, fit=300), key=f"{key}_bars")


def training_memory_view(prof: Profile, key: str) -> None:
    st.subheader("Memory to train it")
    batch = st.slider("Training batch size", 1, 256, 32, key=f"{key}_tbatch", bind="query-params")
    estimates = {opt: training_memory(prof, opt, batch) for opt in OPTIMIZER_STATES}
    st.plotly_chart(presenter.figure(figs.training_memory_bars(estimates, batch)), key=f"{key}_train_mem")
    adam = estimates["Adam"]
    mib = figs.MIB
    st.caption(f"Weights {adam['weights'] / mib:,.1f} MiB + gradients {adam['gradients'] / mib:,.1f} MiB + Adam's two "
               f"moments {adam['optimizer state'] / mib:,.1f} MiB + activations kept for the backward pass "
               f"{adam['activations'] / mib:,.1f} MiB at batch {batch}. SGD keeps no state, momentum one value per "
               "parameter, Adam two. An estimate: framework overhead, temporary buffers, max-pool indices and "
               "dropout masks are not included.")


_compare_lock = threading.Lock()


@st.cache_resource(show_spinner=False)
def _comparison_store() -> dict:
    """Server-wide holder of the full comparison, filled once (by the warm start, or the first session)."""
    return {}


def comparison_table(progress: Callable[[int, int, str], None] | None = None) -> pd.DataFrame:
    """Every registry model profiled at its crop size, once per server (read-only, shared)."""
    store = _comparison_store()
    with _compare_lock:
        if "table" not in store:
            store["table"] = comparison.compare(registry.list_models(), progress, profiler=crop_profile)
    return store["table"]


def full_comparison() -> pd.DataFrame:
    """`comparison_table()`, with a progress bar when this session is the one that computes it."""
    if "table" in _comparison_store():
        return _comparison_store()["table"]
    bar = st.progress(0.0, text="Profiling every model on the meta device…")
    table = comparison_table(lambda i, n, name: bar.progress(i / n, text=f"Profiling {name} ({i + 1}/{n})…"
                                                             if name else "Done."))
    bar.empty()
    return table


def comparison_view() -> None:
    """Several models side by side: table, bubble chart, bars, and ratios beside the lecture's."""
    from explorer.architecture import lecture_tables as lt

    table = full_comparison()
    names = registry.list_models()
    chosen = st.multiselect("Models to compare", names, default=DEFAULT_COMPARE, key="ar_cmp",
                            bind="query-params")
    if not chosen:
        st.info("Pick at least one model.")
        return
    sub = table[table["name"].isin(chosen)].reset_index(drop=True)
    shown = sub.drop(columns=["name"]).assign(**{
        "ImageNet top-1 (%)": pd.to_numeric(sub["ImageNet top-1 (%)"]),  # None (no metadata) -> an empty cell
        "params (M)": sub["params"] / 1e6, "GMACs": sub["MACs"] / 1e9,
        "activation memory (MiB)": sub["activation bytes"] / figs.MIB}).drop(columns=["params", "MACs",
                                                                                     "activation bytes"])
    st.dataframe(shown, hide_index=True, key="ar_cmp_table", height="content", placeholder="—", column_config={
        "model": st.column_config.Column(pinned=True),
        "year": st.column_config.NumberColumn(format="%d"),
        "ImageNet top-1 (%)": st.column_config.NumberColumn(format="%.1f",
                                                            help="Empty: torchvision has no metadata for it."),
        "params (M)": st.column_config.NumberColumn(format="%.2f"),
        "GMACs": st.column_config.NumberColumn(format="%.3f", help=CONVENTION),
        "activation memory (MiB)": st.column_config.NumberColumn(format="%.1f")})
    st.download_button("Download the comparison as CSV", sub.to_csv(index=False).encode(), "comparison.csv",
                       "text/csv", key="ar_cmp_csv", on_click="ignore")
    convention()
    st.plotly_chart(presenter.figure(figs.accuracy_bubbles(sub)), key="ar_bubbles")
    st.caption("Accuracy is torchvision's ImageNet top-1 for its default weights (models without torchvision "
               "metadata are left out of this chart); MACs and parameters are counted live at each model's crop size.")
    st.plotly_chart(presenter.figure(figs.comparison_bars(sub)), key="ar_cmp_bars")
    st.caption(f"Counted live at each model's crop size, batch 1. Compute: {CONVENTION}. Activation memory: float32 "
               "outputs of every layer, in MiB (1,024² bytes).")

    st.subheader("How many times bigger?")
    c1, c2 = st.columns(2)
    num = c1.selectbox("Model", chosen, index=chosen.index("vgg16") if "vgg16" in chosen else 0,
                       key="ar_num", bind="query-params")
    den = c2.selectbox("against", chosen, index=chosen.index("alexnet") if "alexnet" in chosen else 0,
                       key="ar_den", bind="query-params")
    r = comparison.ratios(table, num, den)
    lecture = lt.LECTURE_VGG_VS_ALEXNET if (num, den) == ("vgg16", "alexnet") else {}
    cols = st.columns(3)
    for col, (what, value) in zip(cols, r.items()):
        col.metric(f"{what} ratio", f"{value:.1f}×",
                   help=CONVENTION if what == "MACs" else None,
                   delta=f"lecture: {lecture[what]}×" if lecture else None, delta_color="off", delta_arrow="off")
    if lecture:
        st.caption(lt.VGG_VS_ALEXNET_NOTE)
