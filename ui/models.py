"""Models shared by every session: loaded once per server, never mutated, one lock each.

DESIGN.md section 6: `st.cache_resource` values are shared by all sessions, so a page that
attaches hooks (feature maps, captum) must hold `model_lock(name)` while they are attached,
and training copies the model first.
"""

from __future__ import annotations

import threading

import streamlit as st

from explorer import zoo


@st.cache_resource(show_spinner="Loading the model…", max_entries=6)
def loaded_model(name: str, pretrained: bool = True) -> zoo.LoadedModel:
    """The server-wide shared copy of a zoo model (see `explorer.zoo.load`)."""
    return zoo.load(name, pretrained=pretrained)


@st.cache_resource
def model_lock(name: str) -> threading.Lock:
    """One lock per model name, for work that attaches hooks to the shared model."""
    return threading.Lock()

