"""Receptive fields: how far each unit of a real network sees, drawn on your photo (lecture 3)."""

import streamlit as st

from ui import guess, presenter
from ui.image_picker import image_picker
from ui.receptive_fields import data, network, toy_stack, unit
from ui.safe_text import md

st.title("Receptive fields")
presenter.intro("Lecture 3: *each successive convolution adds K − 1 to the receptive field; with L layers it is "
                "1 + L·(K − 1)*, and striding makes later layers see the whole image sooner. Here every field is "
                "read exactly from the network's PyTorch graph (branches included), drawn on your photo, and "
                "compared with the *effective* field the gradients show.")

net = network.network()
try:
    fields = data.fields(net.key, net.side, net.config)
except ValueError as exc:
    st.error(md(exc, None))  # may quote the network in the address
    fields = None

st.header("1 · How far each layer sees")
if fields:
    network.growth(net, fields)
st.header("2 · One unit's field on your photo")
with presenter.aside():  # ?present=1: in the collapsed sidebar, the pictures first
    image, caption = image_picker()
if fields:
    unit.unit(net, fields, image, caption)
st.header("3 · The lecture's toy stack")
guess.toggle()  # guess first: the toy stack's field waits for a guess (?guess=1)
toy_stack.toy()
