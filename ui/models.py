"""Models shared by every session: loaded once per server, never mutated, one lock each.

DESIGN.md section 6: `st.cache_resource` values are shared by all sessions, so a page that
attaches hooks (feature maps, captum) must hold `model_lock(name)` while they are attached,
and training copies the model first.
"""

from __future__ import annotations

import threading
from typing import Callable

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



def model_picker(label: str, names: list[str], key: str, default: str = zoo.DEFAULT_MODEL,
                 format_func: Callable[[str], str] = zoo.picker_label, on_change: Callable[[], None] | None = None,
                 **kwargs) -> str:
    """A model selectbox that marks the models without weights here ("resnet18 (untrained here)"), with the
    plain name in the URL (?key=resnet18), so that a shared link means the same model on every machine.

    Streamlit's bind="query-params" would write the displayed label to the URL, and the label depends on
    the weights this machine has, so the binding is done here: the URL's value is read when the widget
    starts, and the current value is written back on every run (nothing when it is the default).
    Extra keyword arguments go to `st.selectbox` (help=...).
    """
    url = st.query_params.get(key)
    if st.session_state.get(key) not in names:
        st.session_state[key] = url if url in names else default
    name = st.selectbox(label, names, key=key, format_func=format_func, on_change=on_change, **kwargs)
    if name == default:
        if key in st.query_params:
            del st.query_params[key]
    elif url != name:
        st.query_params[key] = name
    return name
