"""CNN Explorer: the router. Page config, navigation over ui.catalog, shared sidebar, class mode (ui.classroom),
and the address check every page shares (`ui.address`: a value the page cannot use gets one sentence, never an
exception).

`make run` starts it through `ui.server`, which has already warmed the process; under a plain
`streamlit run` the first session does the imports (once, under a lock: `ui.warm.imports`).
"""

import streamlit as st

from explorer.runtime import cluster
from ui import address, warm

warm.imports()
# torch's threads (once per process) and the Dask cluster for heavy work (embedded, or
# CNN_EXPLORER_DASK_SCHEDULER). `ui.server` has done both already; under a plain `streamlit run`
# they happen here, on the first run (both are idempotent).
cluster.set_process_threads()
cluster.start()

from ui import presenter  # noqa: E402
from ui.catalog import HOME, PAGES  # noqa: E402
from ui.classroom import router as classroom  # noqa: E402

st.set_page_config(page_title="CNN Explorer", page_icon="assets/favicon.png", layout="wide",
                   initial_sidebar_state=presenter.sidebar_state())  # collapsed for ?present=1
presenter.style()

pages = [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path, default=p is HOME)
         for p in [HOME, *PAGES]]
page = st.navigation(pages)
joined = classroom.before(pages)  # class mode: join, follow the teacher (may switch this run to their view)

with st.sidebar:
    st.caption(
        "Every picture and number here is computed live by real PyTorch models on this server. "
        "Settings live in the page address: copy it to share exactly what you see."
    )

check = address.opened(page.url_path)
try:
    page.run()
finally:  # also after st.stop() or st.rerun(): the sentences then wait for the next run
    check.report()
    classroom.after(pages, joined)  # the teacher publishes a changed view
