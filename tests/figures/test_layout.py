"""explorer.figures.layout: chart titles wrapped to fit a narrow chart, the plot keeping its size."""

from explorer.figures import layout


def test_a_long_title_breaks_at_spaces_into_lines_of_at_most_the_given_length():
    text = "features.3: 32 of 40 channels (28×28 each, shown at 4× their size)"
    wrapped = layout.wrap_line(text, 30)
    assert wrapped.replace("<br>", " ") == text
    assert all(len(line) <= 30 for line in wrapped.split("<br>")) and wrapped.count("<br>") == 2
    assert layout.wrap_line("short", 30) == "short"
    assert layout.wrap_line("a<br>laid out by its builder, longer than ten", 10) == "a<br>laid out by its builder, longer than ten"
    assert layout.wrap_line("features.1.0.depthwise.conv", 10) == "features.1.0.depthwise.conv"  # one word: whole


def test_a_wrapped_title_grows_the_top_margin_and_height_by_its_added_lines_and_leaves_the_spec_alone():
    spec = {"data": [], "layout": {"title": {"text": "x " * 40, "font": {"size": 20}}, "height": 400,
                                   "margin": {"t": 60, "b": 10}}}
    out = layout.wrapped_title(spec, 30)
    lines = out["layout"]["title"]["text"].count("<br>")
    assert lines == 2 and out["layout"]["margin"] == {"t": 60 + 2 * 26, "b": 10}
    assert out["layout"]["height"] == 400 + 2 * 26 and out["layout"]["title"]["font"] == {"size": 20}
    assert spec["layout"]["title"]["text"] == "x " * 40 and spec["layout"]["height"] == 400  # unchanged
    assert layout.wrapped_title({"layout": {"title": "short"}}, 30) == {"layout": {"title": "short"}}
    assert layout.wrapped_title({"data": []}, 30) == {"data": []}
