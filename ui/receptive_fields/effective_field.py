"""The effective receptive field section (Luo et al. 2016): a Dask task shared by every session (`ui.shared_tasks`).

A nested fragment follows its progress, and the session remembers which fields it asked for and stopped
("rf_erf_asked", "rf_erf_stopped").
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from explorer import images as gallery
from explorer.receptive_fields import figures as figs
from explorer.receptive_fields import effective
from explorer.receptive_fields import fields as rf
from explorer.training.config import CUSTOM
from ui import presenter
from ui.models import loaded_model
from ui.receptive_fields import data
from ui.shared_tasks import Shared, queue_note, session_id, task_store
from explorer.runtime import worker


def _other_photos(caption: str, count: int) -> list[str]:
    """Names of the gallery photos that join the student's photo, `count` images in all."""
    return [name for name in gallery.GALLERY if f"“{name}”" not in caption][: count - 1]


ERF_KEYS_KEPT = 32  # effective-field keys a session remembers asking for or stopping (a few hundred bytes each)


def _remember(name: str, keys: list[tuple]) -> list[tuple]:
    """Add `keys` to the session's list `name` ("rf_erf_asked" or "rf_erf_stopped"), keeping the latest."""
    kept = st.session_state.setdefault(name, [])
    kept.extend(k for k in keys if k not in kept)
    del kept[:-ERF_KEYS_KEPT]
    return kept


def _forget(keys: list[tuple] | None = None) -> None:
    """Ask for these fields (all, when None) afresh: one that stopped or failed is started again."""
    for name in ("rf_erf_asked", "rf_erf_stopped"):
        st.session_state[name] = [k for k in st.session_state.get(name, []) if keys is not None and k not in keys]


def _erf_toggled() -> None:
    """Turned off: this session no longer waits for its fields; turned on: it asks for them afresh."""
    if not st.session_state.get("rf_erf"):
        for key in st.session_state.get("rf_erf_asked", []):
            task_store().cancel(key, session_id())  # a field that ended already is left as it is
    _forget()


def _stop_erf(keys: list[tuple]) -> None:
    """Stop: this session no longer waits for the fields; each stops before its next image unless another
    session waits for it too. The toggle stays on and the page says where they stopped."""
    for key in keys:
        task_store().cancel(key, session_id())
    _remember("rf_erf_stopped", keys)


def _erf_tasks(net: data.Net, f: rf.LayerRF, image: Image.Image, runs: list[tuple[str, bool]], images_key: str,
               others: list[str]) -> list[tuple[str, Shared]]:
    """(label, task) of each run: started or joined, or, if this session stopped it, only looked at. One that
    stopped or failed starts again only if this session has not asked for it since it last flipped the toggle or
    pressed "Compute it again" (else the page shows why it ended, instead of starting it on every rerun)."""
    asked, stopped = st.session_state.get("rf_erf_asked", []), st.session_state.get("rf_erf_stopped", [])
    entries = []
    for label, trained in runs:
        key = data.erf_key(net, f.name, trained, images_key)
        if key in stopped:
            shared = task_store().get(key)  # not joined again: Stop would be undone
        else:
            shared = data.effective_field(net, f.name, trained, images_key,
                                          [image, *map(gallery.sample_image, others)], again=key not in asked)
        if shared is not None:
            entries.append((label, shared))
    _remember("rf_erf_asked", [s.key for _, s in entries])
    return entries


def _erf_progress(entries: list[tuple[str, Shared]]) -> None:
    """While a field is computed: a progress bar per run and Stop, redrawn twice a second; the whole page
    reruns once all ended (to draw the results and stop polling)."""
    @st.fragment(run_every=0.5)
    def _live() -> None:
        if not any(s.active for _, s in entries):
            st.rerun()
        stopped = st.session_state.get("rf_erf_stopped", [])
        for label, s in entries:
            if not s.active:
                st.progress(1.0, text=f"{label}: {'done' if s.result is not None else 'ended'}")
            elif s.key in stopped:
                st.progress(s.fraction, text=f"{label}: stopping after the current image…")
            elif s.task is not None and s.task.message:
                st.progress(s.fraction, text=f"{label}: back-propagating from the centre unit, {s.task.message}")
            else:
                st.progress(s.fraction, text=s.message)
        running = [s.key for _, s in entries if s.active and s.key not in stopped]
        if running:
            st.button("Stop", key="rf_erf_stop", icon=":material/stop:", on_click=_stop_erf, args=(running,),
                      help="Ends the computation before its next image (unless another student waits for it too).")

    _live()


def _erf_problems(entries: list[tuple[str, Shared]]) -> None:
    """Why a field is missing (stopped, failed or refused), and a button to compute it again."""
    ended = [s for _, s in entries if s.error is not None]
    for s in ended:
        if s.task is not None and s.task.status == worker.STOPPED:
            st.warning(s.error, icon=":material/stop_circle:")
        else:
            st.error(s.error)
    if ended:
        st.button("Compute it again", key="rf_erf_again", icon=":material/refresh:", on_click=_forget,
                  args=([s.key for s in ended],))


def effective_section(net: data.Net, f: rf.LayerRF, image: Image.Image, photo: str, caption: str) -> None:
    st.subheader("Effective receptive field (Luo et al., 2016)")
    st.markdown("How much each input pixel actually moves the centre unit: the mean absolute input gradient, over "
                "your photo and gallery photos. Luo et al. found it much smaller than the theoretical box (pixels "
                "near the centre have many more paths to the unit) and larger after training.")
    c1, c2, c3 = st.columns(3)
    on = c1.toggle("Compute it", False, key="rf_erf", bind="query-params", on_change=_erf_toggled,
                   help="A few seconds, on the server in the background: you can keep exploring meanwhile.")
    mass = c2.select_slider("Share of the gradient in the square", [50, 75, 90, 95], 90, key="rf_mass",
                            format_func=lambda v: f"{v}%", bind="query-params")
    count = c3.select_slider("Images", [1, 4, 8, 12], 8, key="rf_nimg", bind="query-params")
    if not on:
        ahead = task_store().ahead()
        if ahead:
            c1.caption(f"Now it would be {queue_note(ahead)} on the server: longer than a few seconds.")
        return
    pretrained = net.key != CUSTOM and loaded_model(net.key).pretrained
    runs = ([("trained weights", True)] if pretrained else []) + [("random weights", False)]
    others = _other_photos(caption, count)
    entries = _erf_tasks(net, f, image, runs, photo + "|" + "|".join(others), others)
    if any(s.active for _, s in entries):
        _erf_progress(entries)
        return
    _erf_problems(entries)
    _erf_results(net, f, len(runs), [(label, s.result) for label, s in entries if s.result is not None], mass,
                 len(others), pretrained)


def _erf_results(net: data.Net, f: rf.LayerRF, runs: int, done: list[tuple[str, np.ndarray]], mass: int,
                 others: int, pretrained: bool) -> None:
    """Each finished field (of `runs` asked for) with its square and the theoretical box; how training changed it."""
    if not done:
        return
    h, w = f.output_size
    box = rf.unit_box(f, h // 2, w // 2)
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    theory = f.size[0]
    columns = st.columns(runs)
    sides = []
    for col, (label, erf) in zip(columns, done):
        side = effective.centred_square(erf, centre, mass / 100)
        sides.append(side)
        fig = figs.erf_figure(erf, box, centre, side, f"{label}: {mass}% in {side}×{side} px (theory: {theory} px)")
        col.plotly_chart(presenter.figure(fig, 1 / len(columns)), key=f"rf_erf_fig_{label.split()[0]}")
        dashed = "dashed" if rf.padding_share(box, net.side) == 0 else "dashed, reaching past the image here"
        col.caption(f"{mass}% of the gradient lies in the centred {side}×{side} px square (solid): "
                    f"{side / theory:.0%} of the theoretical {theory} px side ({dashed}), "
                    f"{(side / theory) ** 2:.0%} of its area. Unit ({h // 2}, {w // 2}), {1 + others} images.")
    if len(sides) == 2 and sides[1]:
        st.markdown(f"Training made the square {sides[0] / sides[1]:.2g}× wider: "
                    f"{(sides[0] / sides[1]) ** 2:.2g}× the area (Luo et al.: the effective field grows with training).")
    elif not pretrained:
        st.caption(f"{net.title} has no trained weights here, so only the random-weight field is shown; "
                   "EfficientNet-Lite0/1/2 have real ImageNet weights.")
