"""Home: what CNN Explorer is for and what each page teaches."""

import streamlit as st

from ui import presenter
from ui.catalog import PAGES
from ui.classroom import teacher as classroom
from ui.models import loaded_model
from explorer.models import registry

st.title("CNN Explorer")
classroom.join_screen()  # while this tab presents a class: the code, link and QR code, projector-sized
presenter.intro(
    "An interactive companion to the course on convolutional neural networks. "
    "Move the sliders, use your own photos, and watch real PyTorch networks compute: "
    "every picture and number on these pages is computed live, never pre-drawn."
)

st.subheader("Pages")
for entry in PAGES:  # a link's label never wraps: the title alone, what the page teaches under it
    st.page_link(entry.path, label=f"**{entry.title}**", icon=entry.icon)
    st.caption(entry.teaches)

st.subheader("The model zoo")
lite = loaded_model(registry.DEFAULT_MODEL)
st.markdown(
    f"{len(registry.list_models())} architectures, from LeNet-5 (1998) to EfficientNet (2019). "
    f"The default model is **{lite.info.title}**: {lite.weights_note}"
)

classroom.start_or_join()  # "Start a class" and "Join a class"
