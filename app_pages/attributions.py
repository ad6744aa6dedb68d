"""Attributions: which pixels made the network decide, on your photo and your own model, and can the maps be trusted?"""

import streamlit as st

from explorer.attribution import explained_model
from ui import models as ui_models, presenter
from ui.attributions import checks, choice, maps
from ui.image_picker import image_picker
from ui.safe_text import md
from ui.transfer.mistakes import receive_handoff

st.title("Attributions")
presenter.intro(
    "Why did the network pick its class? Lecture 3's *visualizing what a convnet learns*, continued: "
    "Zeiler & Fergus (2013) slid a grey square over the image and watched the score drop — the first attribution "
    "method. Below, seven methods (captum) explain the network's decision on your photo, side by side, and two "
    "**sanity checks** test whether each map explains the model at all (Adebayo et al. 2018; Petsiuk et al. 2018)."
)
receive_handoff()  # an image and model sent from the Transfer-learning page's mistakes
present = presenter.on()
with presenter.aside():  # ?present=1: in the collapsed sidebar, so that the maps come first
    chosen = choice.choose_model()
    if chosen.pretrained:
        st.success(chosen.note)
    else:
        st.warning(f"{chosen.note} With random weights its maps show what random filters respond to, not what a "
                   "trained network looks at: they mean nothing about how it decides. Pick EfficientNet-Lite0/1/2, or "
                   "a model you trained on the Transfer-learning page.", icon=":material/warning:")
    image, caption = image_picker()
image_key = ui_models.image_key(image)
look = choice.first_look(chosen, image, image_key)  # the prediction and the maps of its top class
probs, pixels = look.probabilities, choice.model_view(chosen, image, image_key)
labels = choice.labels_of(chosen)
slots = [st.container(), st.container()]
predicted, mapped = slots[::-1] if present else slots  # ?present=1: the maps first, the predictions below them

with predicted:
    target = choice.predictions(chosen, probs, labels, caption)
ctx = maps.Context(chosen, image, image_key, target, pixels, look, float(probs[target]))

with mapped:
    if not present:  # ?present=1: the maps right under the title
        st.header(presenter.section(2, "Maps side by side"), divider="gray")
    with presenter.aside():  # ?present=1: all seven by default, chosen in the sidebar
        methods = maps.choose_methods()
    layers = explained_model.layer_table(chosen.model)
    top, below = st.container(), st.container()
    with below if present else top:  # ?present=1: the maps first, their settings and Compute under them
        options = maps.method_options(ctx, layers)
        maps.heavy_button(ctx, methods, options)
    with top if present else below:
        maps.maps_grid(ctx, methods, options)
    st.caption(f"Every map explains the logit (score before softmax) of “{md(labels[target])}” and is aligned with "
               f"the {chosen.input_size}×{chosen.input_size} crop the model sees, drawn in grey underneath.")

st.header(presenter.section(3, "Sanity checks: can the maps be trusted?"), divider="gray")
st.markdown(
    "- **Randomization** (Adebayo et al., *Sanity Checks for Saliency Maps*): re-initialize the weights from the top "
    "block down. A map that explains the model must change; one that stays the same is only redrawing the photo's "
    "edges. Guided Grad-CAM famously fails.\n"
    "- **Deletion and insertion** (Petsiuk et al., RISE): grey out the pixels in the map's order, or paint them onto "
    "a blurred copy, and watch the class probability. A faithful map makes it fall (or rise) fast."
)
checks.checks_section(ctx, options)
