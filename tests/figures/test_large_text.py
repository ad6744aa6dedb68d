"""explorer.figures.large_text: presenter-mode figures, every font at least 18 px, the cached figure untouched."""

from __future__ import annotations

import json

from explorer.convolution import figures, worked_example as L
from explorer.figures.large_text import MIN_PX, enlarged, smallest_font


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
