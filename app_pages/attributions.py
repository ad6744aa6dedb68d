"""Attributions: which pixels made the network decide, on your photo and your own model, and can the maps be trusted?"""

import streamlit as st

from explorer.attribution import explained_model
from explorer.attribution import figures as figs
from ui import models as ui_models
from ui.attributions import checks, choice, maps
from ui.image_picker import image_picker
from ui.safe_text import md
from ui.transfer.mistakes import receive_handoff

st.title("Attributions")
st.markdown(
    "Why did the network pick its class? Lecture 3's *visualizing what a convnet learns*, continued: "
    "Zeiler & Fergus (2013) slid a grey square over the image and watched the score drop — the first attribution "
    "method. Below, seven methods (captum) explain the network's decision on your photo, side by side, and two "
    "**sanity checks** test whether each map explains the model at all (Adebayo et al. 2018; Petsiuk et al. 2018)."
)
receive_handoff()  # an image and model sent from the Transfer-learning page's mistakes
chosen = choice.choose_model()
if chosen.pretrained:
    st.success(chosen.note)
else:
    st.warning(f"{chosen.note} With random weights its maps show what random filters respond to, not what a trained "
               "network looks at: they mean nothing about how it decides. Pick EfficientNet-Lite0/1/2, or a model "
               "you trained on the Transfer-learning page.", icon=":material/warning:")
image, caption = image_picker()
image_key = ui_models.image_key(image)
probs, pixels = choice.first_look(chosen, image, image_key)
labels = choice.labels_of(chosen)

st.header("1 · What the model predicts", divider="gray")
left, right = st.columns([3, 2])
with right:
    target = choice.choose_target(probs, labels)
order = probs.argsort()[::-1][:5]
top = [(labels[i], float(probs[i])) for i in order]
highlight = next((k for k, i in enumerate(order) if i == target), None)
if chosen.pretrained:
    left.plotly_chart(figs.top_classes(top, f"{chosen.title}: top {len(top)} on {caption}", highlight), key="at_top")
else:  # an untrained model's "top 5" is an accident of its random weights (ui.models.untrained_output)
    left.info(ui_models.untrained_output(chosen.title, float(probs.min()), float(probs.max()), len(probs)),
              icon=":material/casino:")
if highlight is None:
    right.caption(f"Explaining “{md(labels[target])}” ({probs[target]:.2%}), which is not in the top 5.")
ctx = maps.Context(chosen, image, image_key, target, pixels)

st.header("2 · Maps side by side", divider="gray")
methods = maps.choose_methods()
layers = explained_model.layer_table(chosen.model)
options = maps.method_options(ctx, layers)
maps.heavy_button(ctx, methods, options)
maps.maps_grid(ctx, methods, options)
st.caption(f"Every map explains the logit (score before softmax) of “{md(labels[target])}” and is aligned with the "
           f"{chosen.input_size}×{chosen.input_size} crop the model sees, drawn in grey underneath.")

st.header("3 · Sanity checks: can the maps be trusted?", divider="gray")
st.markdown(
    "- **Randomization** (Adebayo et al., *Sanity Checks for Saliency Maps*): re-initialize the weights from the top "
    "block down. A map that explains the model must change; one that stays the same is only redrawing the photo's "
    "edges. Guided Grad-CAM famously fails.\n"
    "- **Deletion and insertion** (Petsiuk et al., RISE): grey out the pixels in the map's order, or paint them onto "
    "a blurred copy, and watch the class probability. A faithful map makes it fall (or rise) fast."
)
checks.checks_section(ctx, options)
