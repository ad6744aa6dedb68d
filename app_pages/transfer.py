"""Transfer learning: train a classifier on your own images with the lectures' four strategies, live."""

import streamlit as st

from explorer.training import datasets
from ui import presenter
from ui.safe_text import md
from ui.transfer import data as transfer_data, results as transfer_results, run as transfer_run

st.title("Transfer learning")
presenter.intro(
    "Lecture 4's exercise, live: train **from scratch**, train **only a new classification layer** on a frozen "
    "pretrained backbone, or **fine-tune** it, and compare. Training runs on the server in the background: you can "
    "change settings, switch pages and come back while it runs."
)

present = presenter.on()
live = st.container() if present else None  # ?present=1: the run's curves on the first screen, the settings below
st.header("1. Data", divider="gray")
data, data_name = transfer_data.data_section()
val_pct = st.slider("Validation share (%)", 10, 50, 25, step=5, key="tl_val", bind="query-params",
                    help="Stratified: every class gives this share of its images to validation.")
split = None
if data is not None:
    counts = data.counts()
    st.caption(" · ".join(f"{md(name, 40)}: {n}" for name, n in counts.items()) +
               f" — {data.nbytes() / 1e6:.1f} MB of pixels kept in your session.")
    try:
        split = datasets.split(data, val_pct / 100, seed=int(st.session_state.get("tl_seed", 0)))
    except ValueError as exc:
        st.error(md(exc, None), icon=":material/rule:")

st.header("2. Model and training", divider="gray")
config = transfer_run.settings(len(data.samples) if data is not None else 0)
if data is not None:
    transfer_run.augmentation_preview(transfer_data.preview_images(data), config.augment)
if split is not None:
    transfer_run.start_button(config, split[0], split[1], data.classes, data_name)
else:
    st.button("Start training", key="tl_start", type="primary", disabled=True,
              help="Fix the data problem shown above first.")
with live if present else st.container():  # drawn after the Start button, so that a run it starts shows at once
    transfer_run.live_view()
transfer_run.near_chance_advice()

st.header("3. Results", divider="gray")
runs = st.session_state.get("tl_runs", [])
transfer_results.comparison(runs)
transfer_results.detail(runs)
