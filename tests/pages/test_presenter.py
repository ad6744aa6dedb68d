"""Presenter mode (?present=1, issue 21) on every page: it runs, folds the intro into "About this page", puts the
photo picker in the (collapsed) sidebar, and draws every chart with text of at least 18 px."""

from __future__ import annotations

import json

import pytest

from explorer.figures.large_text import MIN_PX, smallest_font
from explorer.figures.raw import RawFigure
from tests.pages.apptest import open_page

#: Page file -> (the start of its intro, address values that make it draw its charts, whether it has a photo picker).
PAGES = {
    "app_pages/home.py": ("An interactive companion to the course", {}, False),
    "app_pages/filters.py": ("A convolution slides a small filter", {}, True),
    "app_pages/receptive_fields.py": ("Lecture 3: *each successive convolution", {}, True),
    "app_pages/architectures.py": ("Shapes, parameters, activation memory", {"ar_model": "resnet18"}, False),
    "app_pages/transfer.py": ("Lecture 4's exercise, live", {}, False),
    "app_pages/attributions.py": ("Why did the network pick its class?", {}, True),
    "app_pages/zoo.py": ("The networks of the course", {}, True),
}
CHARTS = {"filters", "receptive_fields", "architectures", "attributions", "zoo"}  # the pages that draw charts at once


def _name(path: str) -> str:
    return path.removeprefix("app_pages/").removesuffix(".py")


@pytest.mark.parametrize("path", list(PAGES), ids=_name)
def test_presenter_mode_folds_the_intro_and_enlarges_every_chart(path):
    intro, query, picker = PAGES[path]
    normal = open_page(path, **query)
    assert not normal.exception
    assert any(m.value.startswith(intro) for m in normal.main.markdown)  # shown as it is without presenter mode
    at = open_page(path, present="1", **query)
    assert not at.exception
    about = [e for e in at.expander if e.label == "About this page"]
    assert len(about) == 1 and about[0].markdown[0].value.startswith(intro)
    assert not any(m.value.startswith(intro) for m in at.main.markdown if m not in about[0].markdown)
    if picker:  # the photo picker waits in the collapsed sidebar; the page's pictures come first
        assert "img_src" in [w.key for w in at.sidebar.get("button_group")]
        assert "img_src" not in [w.key for w in at.main.get("button_group")]
    charts = [RawFigure(json.loads(c.proto.spec)) for c in at.get("plotly_chart")]
    if _name(path) in CHARTS:
        assert charts, "no chart drawn"
        normal_charts = [RawFigure(json.loads(c.proto.spec)) for c in normal.get("plotly_chart")]
        assert min(smallest_font(f) for f in normal_charts) < MIN_PX  # the test can fail: the normal view's are small
    assert all(smallest_font(f) >= MIN_PX for f in charts), [smallest_font(f) for f in charts]
    for fig in charts:  # what Streamlit's template would draw at 12-16 px has a size of its own
        layout = fig.spec["layout"]
        assert layout["xaxis"]["tickfont"]["size"] >= MIN_PX and layout["yaxis"]["tickfont"]["size"] >= MIN_PX
        if isinstance(layout.get("title"), dict) and layout["title"].get("text"):
            assert layout["title"]["font"]["size"] >= MIN_PX


def test_attributions_in_presenter_mode_shows_the_maps_first_without_numbers_out_of_order():
    at = open_page("app_pages/attributions.py", present="1")
    assert not at.exception
    assert [h.value for h in at.header] == ["What the model predicts",
                                            "Sanity checks: can the maps be trusted?"]
