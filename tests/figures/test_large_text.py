"""explorer.figures.large_text: presenter-mode figures, every font at least 18 px, the cached figure untouched."""

from __future__ import annotations

import json

from explorer.convolution import figures, worked_example as L
from explorer.figures.large_text import MIN_PX, enlarged, smallest_font, stacked_menus, without_slider
from explorer.figures.raw import RawFigure


def test_the_sliding_window_is_enlarged_in_every_frame_and_the_original_is_kept():
    fig = figures.sliding_window_figure(L.compute(L.Settings()))
    before = json.dumps(fig.spec, default=repr)
    assert smallest_font(fig) < MIN_PX  # the 10 px kernel subscripts, the 12 px titles
    big = enlarged(fig)
    assert smallest_font(big) >= MIN_PX
    assert big.spec["layout"]["font"]["size"] >= MIN_PX
    sizes = [t["textfont"]["size"] for t in big.spec["data"] if "textfont" in t]
    assert len(sizes) >= 4 and min(sizes) >= MIN_PX  # digits, output values, kernel subscripts, the written sum...
    assert json.dumps(fig.spec, default=repr) == before  # the shared, cached figure is not changed


def test_heatmap_cell_text_gets_a_font_size_instead_of_being_fitted_to_its_cells():
    multi = figures.multichannel_figure(L.compute(L.Settings()))
    assert smallest_font(enlarged(multi)) >= MIN_PX
    assert all(t["textfont"]["size"] >= MIN_PX for t in enlarged(multi).spec["data"] if "texttemplate" in t)


def test_menus_go_on_two_rows_and_the_plot_keeps_its_size():
    fig = figures.sliding_window_figure(L.compute(L.Settings()))
    menus = fig.spec["layout"]["updatemenus"]
    assert len({m["y"] for m in menus}) == 1  # one row: it overlapped at 150% zoom (issue 21)
    stacked = stacked_menus(fig, row_px=50).spec["layout"]
    rows = [m["y"] for m in stacked["updatemenus"]]
    assert rows[0] == 1.0 and rows[1] == rows[2] > 1.0
    assert [m["xanchor"] for m in stacked["updatemenus"][1:]] == ["left", "right"]
    layout = fig.spec["layout"]
    assert stacked["height"] - stacked["margin"]["t"] == layout["height"] - layout["margin"]["t"]  # same plot area
    assert stacked["height"] == layout["height"] + 50 and len({m["y"] for m in menus}) == 1  # the original kept


def test_what_the_template_would_size_gets_an_explicit_size():
    """Streamlit's theme template draws titles at 16 px, axis titles at 14 and ticks at 12 unless the figure says
    otherwise: the title, every axis's ticks and title, the legend and every colour bar get explicit sizes."""
    import plotly.graph_objects as go  # noqa: PLC0415
    from plotly.subplots import make_subplots  # noqa: PLC0415

    from explorer.figures.raw import RawFigure  # noqa: PLC0415

    fig = make_subplots(rows=1, cols=2)
    fig.add_trace(go.Bar(x=[0.2, 0.8], y=["cat", "dog"], orientation="h"), row=1, col=1)
    fig.add_trace(go.Heatmap(z=[[0, 1], [1, 0]]), row=1, col=2)
    fig.update_layout(title={"text": "Top-5", "subtitle": {"text": "on a photo"}}, xaxis_title="probability",
                      legend={"orientation": "h", "y": -0.25}, coloraxis={"colorscale": "Viridis"})
    layout = enlarged(RawFigure(fig.to_dict())).spec["layout"]
    data = enlarged(RawFigure(fig.to_dict())).spec["data"]
    assert layout["title"]["font"]["size"] == MIN_PX and layout["title"]["subtitle"]["font"]["size"] == MIN_PX
    assert layout["legend"]["font"]["size"] == MIN_PX
    assert layout["xaxis"]["title"]["font"]["size"] == MIN_PX
    for axis in ("xaxis", "yaxis", "xaxis2", "yaxis2"):
        assert layout[axis]["tickfont"]["size"] == MIN_PX, axis
    assert layout["coloraxis"]["colorbar"]["tickfont"]["size"] == MIN_PX
    assert layout["legend"]["y"] < -0.25  # a legend under the plot moves clear of the larger axis title
    assert data[1]["colorbar"]["tickfont"]["size"] == MIN_PX and "colorbar" not in data[0]


def test_without_slider_drops_it_and_its_room_and_leaves_the_figure_alone():
    fig = RawFigure({"data": [], "frames": [{"name": "0"}],
                     "layout": {"height": 500, "margin": {"t": 70, "b": 60}, "sliders": [{"steps": []}]}})
    out = without_slider(fig).spec
    assert "sliders" not in out["layout"] and out["layout"]["margin"] == {"t": 70, "b": 10}
    assert out["layout"]["height"] == 450 and out["frames"] == [{"name": "0"}]
    assert fig.spec["layout"]["height"] == 500 and "sliders" in fig.spec["layout"]


def test_one_row_hides_a_menu_and_puts_the_others_on_the_row_above_the_plot():
    from explorer.figures.large_text import one_row  # noqa: PLC0415

    menus = [{"x": 0, "y": 1.0}, {"x": 0, "y": 1.2}, {"x": 1.0, "y": 1.2}]
    fig = RawFigure({"data": [], "layout": {"height": 500, "margin": {"t": 120}, "updatemenus": menus}})
    out = one_row(fig, hidden=1).spec["layout"]
    assert out["updatemenus"][1]["visible"] is False and len(out["updatemenus"]) == 3  # frames address menu 2
    assert [(m["x"], m["y"], m["xanchor"]) for m in out["updatemenus"][::2]] == [(0.0, 1.0, "left"), (1.0, 1.0, "right")]
    assert out["height"] == 450 and out["margin"]["t"] == 70 and fig.spec["layout"]["height"] == 500
