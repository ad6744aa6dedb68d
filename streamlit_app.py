"""CNN Explorer: the router. Page config, torch threads, the job engine, navigation over ui.catalog, shared sidebar."""

import os

import streamlit as st
import torch

from explorer import cluster
from ui.catalog import HOME, PAGES

# One intra-op thread per computation (new script threads inherit it): with a class on one
# server, one busy job per core beats two threads fighting over each core (DESIGN.md section 6).
# CNN_EXPLORER_THREADS=2 suits a single user on a quiet 2-core machine.
torch.set_num_threads(int(os.environ.get("CNN_EXPLORER_THREADS", "1")))

# The Dask cluster for training runs (embedded, or CNN_EXPLORER_DASK_SCHEDULER) starts in the
# background on the first visit: no page waits for it. Later calls do nothing.
cluster.start()

st.set_page_config(page_title="CNN Explorer", page_icon=":material/grid_on:", layout="wide")

pages = [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path, default=p is HOME)
         for p in [HOME, *PAGES]]
page = st.navigation(pages)

with st.sidebar:
    st.caption(
        "Every picture and number here is computed live by real PyTorch models on this server. "
        "Settings live in the page address: copy it to share exactly what you see."
    )

page.run()
