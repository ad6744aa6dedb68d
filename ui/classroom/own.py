"""What a following student keeps of their own: their photo, their trained model on Attributions, their run.

Observed at the end of each of the student's runs (`observe`), from the address the page left and
the session's own state, and applied to every teacher view they follow (`Own.keep`, then
`explorer.classroom.views.follower_params`):

- **their photo**: a student whose picker shows their upload or webcam shot (`img_src` Upload or
  Webcam, with a photo in the session) keeps that source on every page with the image picker, so the
  teacher's settings apply to their photo. Back on "Gallery" by their own choice, they follow the
  teacher's gallery picture again.
- **their model**: on Attributions, a model they trained on the Transfer-learning page stays chosen
  ("my model") while the method settings follow the teacher. Picking a zoo model follows again.
- **their run**: the Transfer-learning page keeps showing their own run; following never stops,
  replaces or attaches to a run (a run's id is never shared, see `views.NEVER_SHARED`).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from explorer.classroom import views
from ui.attributions.choice import trained_models

#: Pages that draw the image picker (ui/image_picker.py), by url path.
PICKER_PAGES = frozenset({"filters", "receptive-fields", "attributions", "zoo"})
ATTRIBUTIONS, TRANSFER = "attributions", "transfer"
PHOTO_KEY = "picker_image"  # where the image picker keeps the student's own photo


@dataclass(frozen=True)
class Own:
    """What the student keeps while following (None: follow the teacher)."""

    source: str | None = None  # "Upload" or "Webcam"
    model: str | None = None  # the Attributions model list's label of their own model
    run: str | None = None  # the id of their current training run

    def keep(self, page: str) -> dict[str, str]:
        """The address parameters the student keeps on `page` (a url path)."""
        out = {}
        if self.source and page in PICKER_PAGES:
            out[views.SOURCE_KEY] = self.source
        if self.model and page == ATTRIBUTIONS:
            out[views.MODEL_KEY] = self.model
        if self.run and page == TRANSFER:
            out[views.RUN_KEY] = self.run
        return out


def observe(own: Own, page: str, params: views.Params) -> Own:
    """`own` updated from a run of `page` that ended with address `params` (and the session's photo and runs)."""
    source, model = own.source, own.model
    if page in PICKER_PAGES:
        chosen = params.get(views.SOURCE_KEY, [""])[-1]
        has_photo = st.session_state.get(PHOTO_KEY) is not None
        source = chosen if chosen in views.OWN_SOURCES and has_photo else None
    if page == ATTRIBUTIONS:
        chosen = params.get(views.MODEL_KEY, [""])[-1]
        model = chosen if chosen in trained_models() else None
    run = st.session_state.get("tl_run")  # the Transfer-learning page's current run (ui/transfer/run.py)
    return Own(source, model, getattr(run, "id", None) or own.run)
