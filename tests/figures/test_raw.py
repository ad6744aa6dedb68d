"""explorer.figures.raw against Plotly itself: its helpers write what go.Figure and make_subplots would have sent."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import plotly.tools
import pytest
from plotly.subplots import make_subplots

from explorer.attribution.figures import DIVERGING, SEQUENTIAL
from explorer.figures.raw import RawFigure, colorscale, subplot_row, typed


@pytest.mark.parametrize("values", [np.arange(12, dtype=np.float32).reshape(3, 4) / 7, np.array([[3, -2], [1, 300]]),
                                    np.array([1, 2, 70_000]), pd.Series([0.5, 1.25, np.nan]), np.zeros((2, 2, 2), int)])
def test_typed_arrays_are_those_go_figure_sends(values):
    assert typed(values) == go.Figure(go.Heatmap(z=values)).to_dict()["data"][0]["z"]


def test_what_plotly_js_has_no_typed_array_for_stays_a_list():
    assert typed(np.array([], dtype=np.float64)) == []
    assert typed(pd.Series(["a", "b"])) == ["a", "b"]


@pytest.mark.parametrize("name", [*SEQUENTIAL, DIVERGING, "RdBu", "Blues"])
def test_colour_scales_are_go_figures_but_for_streamlits_placeholder_colours(name):
    theirs = go.Figure(go.Heatmap(z=[[0]], colorscale=name)).to_dict()["data"][0]["colorscale"]
    ours = colorscale(name)
    assert [p for p, _ in ours] == [p for p, _ in theirs]
    # Streamlit swaps #000001…#000040 for its theme's colours wherever they occur (Inferno starts at #000004).
    assert [c for _, c in ours] == ["#000000" if c in {f"#0000{i:02d}" for i in range(1, 41)} else c
                                    for _, c in theirs]
    assert not any(c.startswith("#0000") and c != "#000000" for _, c in ours)


@pytest.mark.parametrize("titles, spacing, shared", [(["a", "b"], None, False), (["a", "<b>b</b>", "c"], 0.02, True)])
def test_a_row_of_subplots_is_make_subplots_layout(titles, spacing, shared):
    kwargs = {} if spacing is None else {"horizontal_spacing": spacing}
    theirs = make_subplots(rows=1, cols=len(titles), shared_yaxes=shared, subplot_titles=titles, **kwargs).to_dict()
    theirs["layout"].pop("template")
    assert subplot_row(titles, spacing, shared) == theirs["layout"]


def test_streamlit_sends_the_spec_as_it_is():
    spec = {"data": [{"type": "bar", "x": typed(np.array([0.5, 1.0])), "y": ["a", "b"]}],
            "layout": {"title": {"text": "t"}}}
    sent = plotly.tools.return_figure_from_figure_or_data(RawFigure(spec), True)  # what st.plotly_chart does
    assert sent == spec
    assert json.loads(pio.to_json(sent, validate=False)) == spec
