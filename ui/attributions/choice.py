"""The Attributions page's model, image and target: a zoo model or one trained in this session.

Every result is cached under plain keys: the model's build ("efficientnet_lite0#1", see
`ModelStore.stamp`; "run:<id>" for a run of the Transfer-learning page, "file:<object id>" for a model
loaded from a zip), the image's fingerprint, the method, its options and the target class.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image

from explorer import images
from explorer.models import zoo
from explorer.attribution import cheap
from explorer.attribution import figures as figs
from ui import address, background, presenter
from ui import models as ui_models
from ui.models import loaded_model, model_picker, picker_label
from ui.safe_text import md
from explorer.models import registry
from explorer.attribution import explained_model
from explorer.training import classifier
from explorer.models import store

RUN_PREFIX, FILE_KEY = "run:", "file"


@dataclass
class Choice:
    """The model the page explains.

    Attributes:
        key: cache key: the zoo model's build ("efficientnet_lite0#1"), "run:3" or "file".
        model: a `zoo.LoadedModel` (shared: never changed) or a `classifier.TrainedModel` (this session's).
        title: display name.
        pretrained: False when its weights are random.
        note: where the weights come from.
        input_size: side of the model's input in pixels.
    """

    key: str
    model: zoo.LoadedModel | classifier.TrainedModel
    title: str
    pretrained: bool
    note: str
    input_size: int


def trained_models() -> dict[str, tuple[str, classifier.TrainedModel]]:
    """{option label: (cache key, model)} of this session's trained models still kept, newest first."""
    found = {}
    for run in reversed(st.session_state.get("tl_runs", [])):
        if getattr(run, "result", None) is not None:
            found[run_option(run)] = (f"{RUN_PREFIX}{run.id}", run.result)
    imported = st.session_state.get("tl_imported")
    if imported is not None:
        # keyed by the object: two sessions' imported models must never share cached results
        found[f"your model loaded from file ({imported.config.backbone_label})"] = (f"{FILE_KEY}:{id(imported)}",
                                                                                   imported)
    return found


def run_option(run) -> str:
    """The model list's entry (and URL value) of a Transfer-learning run: "your run #3 efficientnet_lite0 · …"."""
    return f"your run {run.label}"


MODEL_SETTINGS = ("at_layer", "at_other")  # layer and class names of one model


def _forget_model_settings() -> None:
    """Another model: its layers and classes have other names; their widgets start at the new defaults."""
    for key in MODEL_SETTINGS:
        st.session_state.pop(key, None)


def choose_model() -> Choice:
    """The model picker (this session's trained models, then the zoo), in the URL as `at_model`.

    Zoo models without weights here are marked "(untrained here)"; the URL holds the plain name.
    """
    own = trained_models()
    names = registry.list_models()
    wanted = st.query_params.get("at_model")
    address.handled("at_model")
    if wanted and wanted not in names and wanted not in own:
        st.warning(f"The model in this link ({md(wanted, 60)}) was trained in another session, or is no longer kept: "
                   "showing EfficientNet-Lite0. Train one on the Transfer-learning page to explain it here.",
                   icon=":material/link_off:")
    choice = model_picker("Model", list(own) + names, key="at_model",
                          format_func=lambda n: n if n in own else picker_label(n),
                          on_change=_forget_model_settings,
                          help="Any zoo model (EfficientNet-Lite0/1/2 have ImageNet weights here), or a model you "
                               "trained on the Transfer-learning page in this session.")
    if choice in own:
        key, trained = own[choice]
        spec = classifier.input_spec(trained.config)
        size = spec.input_size if isinstance(spec.input_size, int) else spec.input_size[0]
        note = (f"Your model: classes {md(', '.join(trained.classes), 200)}, trained on the Transfer-learning page. "
                f"{md(trained.weights_note, 300)}")
        return Choice(key, trained, choice, True, note, size)
    return zoo_choice(loaded_model(choice))


def zoo_choice(loaded: zoo.LoadedModel) -> Choice:
    """The page's choice of a shared zoo model."""
    return Choice(store.shared().stamp(loaded.name), loaded, loaded.info.title, loaded.pretrained,
                  loaded.weights_note, loaded.input_size)


#: Seconds a rerun waits for the model's first look at a new photo before it shows that it is running instead.
QUICK_S = 0.5

#: Bytes of cheap maps kept server-wide. One photo and class of Lite0 holds 0.9 MB (the prediction, Saliency,
#: the guided gradient and the Grad-CAM of its 74 layers at their own resolutions): about 70 of them.
MAPS_BYTES = 64 * 2**20
#: Seconds the warm start waits for one first look (0.15 s on an idle core).
WARM_TIMEOUT_S = 60.0


@st.cache_resource(show_spinner=False)
def cheap_store() -> background.Keyed:
    """Cheap maps (`cheap.CheapMaps`) by model, photo and class, computed on the background threads."""
    return background.Keyed(background.executor(), max_bytes=MAPS_BYTES, size=lambda maps: maps.nbytes)


def layer_names(chosen: Choice) -> list[str]:
    """The layers whose Grad-CAM the page offers (`explained_model.layer_table`), in network order."""
    return [layer.name for layer in explained_model.layer_table(chosen.model)]


def _look(chosen: Choice, image: Image.Image, img_key: str) -> Future:
    return cheap_store().submit(("first look", chosen.key, img_key), cheap.cheap_maps, chosen.model, image, None,
                                layer_names(chosen))


def warm(photos: dict[str, list[str]]) -> None:
    """What a first visit or a first model switch shows, computed before anyone asks (`ui.warm.before_serving`):
    the first look of each zoo model in `photos` at its gallery photos there (model name -> gallery photo names),
    with its cheap maps (Lite0: 0.15 s of CPU and 0.9 MB each; Lite1 0.4 s, Lite2 0.7 s)."""
    for model, names in photos.items():
        chosen = zoo_choice(store.shared().get(model))
        for name in names:
            photo = images.sample_image(name)
            _look(chosen, photo, ui_models.image_key(photo)).result(timeout=WARM_TIMEOUT_S)


def first_look(chosen: Choice, image: Image.Image, img_key: str) -> cheap.CheapMaps:
    """The model's prediction on the photo, with the cheap maps of its top class: one forward and two backward
    passes (`cheap.cheap_maps`), run in the background and shared by every session asking for the same model and
    photo. While it runs, the page says so and stops; it reruns by itself when it is done (a large model on a new
    photo takes seconds)."""
    future = _look(chosen, image, img_key)
    if background.ready(future, QUICK_S):
        return future.result()
    background.rerun_when_done(future, f"Running {chosen.title} on your photo:")
    st.stop()


def model_view(chosen: Choice, image: Image.Image, img_key: str) -> np.ndarray:
    """uint8 [S, S, 3]: the crop the model sees, which every map is drawn over (shared server-wide)."""
    return ui_models.shared(("model view", chosen.key, img_key), lambda: explained_model.model_view(chosen.model,
                                                                                                    image))


def labels_of(choice: Choice) -> list[str]:
    """Class names of the chosen model, in output order."""
    return explained_model.explained(choice.model).labels


RANKS = ("1st guess", "2nd guess", "3rd guess", "4th guess", "5th guess", "another class")


def choose_target(probs: np.ndarray, labels: list[str]) -> int:
    """The class to explain: one of the top five (by rank, so that a link works on any photo) or any class.

    A rank the model does not have (a link asking for the 5th guess of a 2-class model) is
    refused with a message, and the top guess is explained instead.
    """
    order = np.argsort(-probs)
    ranks = [r for i, r in enumerate(RANKS[:-1]) if i < len(labels)] + [RANKS[-1]]
    asked = st.query_params.get("at_rank")
    address.handled("at_rank")
    if asked in RANKS[:-1] and asked not in ranks:
        st.error(f"This model has only {len(labels)} classes, so it has no {asked}: explaining its 1st guess.",
                 icon=":material/rule:")
    rank = st.radio("Explain the class", ranks, key="at_rank", bind="query-params", horizontal=True,
                    help="The top guess by default (red in the chart). Explaining a class the model did not pick "
                         "shows what evidence it found for that class.")
    if rank == RANKS[-1]:
        choice = st.selectbox("Class", [f"{i} · {name}" for i, name in enumerate(labels)], index=int(order[0]),
                              key="at_other", bind="query-params")
        return int(choice.split(" · ", 1)[0])
    return int(order[ranks.index(rank)])


def predictions(chosen: Choice, probs: np.ndarray, labels: list[str], caption: str) -> int:
    """Section 1 of the page: the model's top 5 on the photo (`probs`: one probability per class, in `labels`'
    order) beside the choice of the class to explain; returns that class's index."""
    st.header(presenter.section(1, "What the model predicts"), divider="gray")
    left, right = st.columns([3, 2])
    with right:
        target = choose_target(probs, labels)
    order = probs.argsort()[::-1][:5]
    top = [(labels[i], float(probs[i])) for i in order]
    highlight = next((k for k, i in enumerate(order) if i == target), None)
    if chosen.pretrained:
        top_fig = figs.top_classes(top, f"{chosen.title}: top {len(top)} on {caption}", highlight)
        left.plotly_chart(presenter.figure(top_fig, 0.6), key="at_top")
    else:  # an untrained model's "top 5" is an accident of its random weights (ui.models.untrained_output)
        left.info(ui_models.untrained_output(chosen.title, float(probs.min()), float(probs.max()), len(probs)),
                  icon=":material/casino:")
    if highlight is None:
        right.caption(f"Explaining “{md(labels[target])}” ({probs[target]:.2%}), which is not in the top 5.")
    return target
