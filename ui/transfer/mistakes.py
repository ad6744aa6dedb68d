"""Transfer-learning results: Grad-CAM of the student's own model on its mistakes, and a way to explain one further.

"What did it look at?" Each misclassified validation image is shown with the Grad-CAM map of
the class the model wrongly chose; one click opens that image, with that model, on the
Attributions page (the image goes into the shared picker's session state, the model into the URL).
Maps are computed only when the student turns the view on (a few tenths of a second per image).
"""

from __future__ import annotations

import streamlit as st

from explorer.attribution import methods as attr
from explorer.training import jobs
from explorer.attribution import figures as figs
from ui.attributions.choice import run_option
from ui.image_picker import use_image
from ui.safe_text import md
from explorer.attribution import explained_model

HANDOFF = "at_handoff"  # (caption, image) waiting for the Attributions page
PAGE = "app_pages/attributions.py"
#: st.switch_page keeps the scroll position of the page it leaves: Explain, clicked far down the Transfer-learning
#: page, opened the Attributions page at its bottom (issue 21). A fixed script, no outside text in it.
TO_TOP = "<script>document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)</script>"


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def _overlay(run_id: int, index: int, target: int, _trained, _image):
    """uint8 [S, S, 3]: the Grad-CAM map of `target` over the crop the model saw."""
    cam = attr.attribute(_trained, _image, "grad_cam", target)
    blended, _ = figs.overlay(explained_model.model_view(_trained, _image), cam.map, False, 0.7)
    return blended


def mistakes_gradcam(run: jobs.Run, shown: list[int]) -> None:
    """A toggle, then each mistake's Grad-CAM with a button to explain it on the Attributions page."""
    if not shown or run.result is None:
        return
    if not st.toggle("What did it look at? (Grad-CAM)", key=f"tl_cam_{run.id}",
                     help="Grad-CAM of your model on each of these mistakes"):
        return
    ev, classes, trained = run.evaluation, run.classes, run.result
    st.caption("Red-yellow: where the evidence for the class your model (wrongly) chose sits, at its last "
               f"spatial layer ({explained_model.default_layer(trained)}).")
    for row in range(0, len(shown), 4):
        for col, i in zip(st.columns(4), shown[row:row + 4]):
            image = run.val_set[i][0]
            true, pred = classes[ev.y_true[i]], classes[ev.y_pred[i]]
            try:
                col.image(_overlay(run.id, i, int(ev.y_pred[i]), trained, image),
                          caption=f"{md(true, 40)} → {md(pred, 40)}: why “{md(pred, 40)}”?")
            except ValueError as exc:
                col.error(md(exc, None))
                continue
            if col.button("Explain", key=f"tl_explain_{run.id}_{i}", icon=":material/center_focus_strong:",
                          help="Open this image with this model on the Attributions page."):
                st.session_state[HANDOFF] = (f"validation image {i} of run #{run.number} (true class {true})", image,
                                             run_option(run))
                st.switch_page(PAGE, query_params={"at_model": run_option(run)})


def receive_handoff() -> None:
    """On the Attributions page, before its widgets: take over the image and model sent from the mistakes."""
    handoff = st.session_state.pop(HANDOFF, None)
    if handoff is not None:
        caption, image, model = handoff
        use_image(image, caption, "attributions")  # the picker shows it under "Upload", on that page only
        st.session_state["at_model"] = model
        st.html(TO_TOP, unsafe_allow_javascript=True)
