"""Filters and feature maps: classic kernels, learned filters, what each layer of a real network sees, top-5."""

import streamlit as st

from ui import guess, presenter
from ui.filters import sections
from ui.image_picker import image_picker
from ui.models import image_key

st.title("Filters and feature maps")
presenter.intro("A convolution slides a small filter over the image. Below: the lecture's hand-made kernels, "
                "then the filters a real network learned, what each of its layers sees in your picture, and what it "
                "finally predicts.")
with presenter.aside():  # ?present=1: in the collapsed sidebar, so that the pictures come first
    name, loaded, build = sections.model_choice()
    image, caption = image_picker()
    sections.weights_note(loaded)
photo = image_key(image)
guess.toggle()  # guess first: the top-1 class waits for a guess (?guess=1)

st.header("1 · Classic kernels (lecture 3)")
sections.classic_kernels(image, photo)
st.header("2 · Learned filters")
sections.learned_filters(name, loaded, build)
sections.maps_and_predictions(name, loaded, build, image, photo, caption)
