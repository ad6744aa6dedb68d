"""AppTest of the Filters and feature maps page: defaults, URL settings, errors shown in place, other models."""

from __future__ import annotations

from explorer import images
from explorer.filters import feature_maps
from explorer.models import zoo
from tests.pages.apptest import chart_titles, open_page
from explorer.models import registry

PAGE = "app_pages/filters.py"


def test_default_page_shows_kernels_filters_maps_and_predictions():
    at = open_page(PAGE)
    assert not at.exception
    assert [h.value for h in at.header] == ["1 · Classic kernels (lecture 3)", "2 · Learned filters",
                                            "3 · Feature maps", "4 · Predictions"]
    assert at.selectbox(key="fm_model").value == registry.DEFAULT_MODEL
    assert any("PyPI package efficientnet-lite0" in s.value for s in at.success)
    assert at.selectbox(key="fm_layer").value == "features.3 · stage · 40×28×28"
    titles = chart_titles(at)
    assert any("features.0.conv: 32 filters, shape K×K×3×C_out = 3×3×3×32" in t for t in titles)
    assert any(t.startswith("features.3: 32 of 40 channels (28×28 each") for t in titles)
    assert any("top-5" in t for t in titles)
    # The most active channel is shown large by default.
    loaded = zoo.load(registry.DEFAULT_MODEL)
    maps = feature_maps.feature_maps(loaded, images.sample_image("chelsea (cat)"), "features.3")
    assert at.selectbox(key="fm_channel").value == "most active"
    top = feature_maps.top_channels(maps, 1)[0]
    assert any(t.startswith(f"features.3, channel {top}: 28×28, values") for t in titles)
    # Lite0 has no deep filter with several input slices: its first depthwise layer is shown instead.
    assert at.selectbox(key="ff_layer").value == "features.1.0.depthwise.conv"
    assert any(t.startswith("features.1.0.depthwise.conv (depthwise): all 32 filters of 3×3") for t in titles)
    assert at.selectbox(key="fk_kernel").value == "Edge detection (8-neighbour)"
    assert any("28×28 (1/8 of the input side)" in md.value for md in at.markdown)
    assert len(at.get("image")) >= 5  # the picker thumbnail and the four kernel steps


def test_settings_come_from_the_url_and_a_bad_custom_kernel_shows_an_error():
    at = open_page(PAGE, fk_kernel="Custom", fk_custom="1 2; 3 4", fk_pool="sum",
                   fm_layer="features.0.conv · conv · 32×112×112", fm_top="8", fm_overlay="false")
    assert not at.exception
    assert any("3×3 or 5×5" in e.value for e in at.error)
    assert at.selectbox(key="fk_kernel").value == "Custom"
    assert at.segmented_control(key="fk_pool").value == "sum"
    assert at.slider(key="fm_top").value == 8
    assert at.toggle(key="fm_overlay").value is False
    titles = chart_titles(at)
    assert any(t.startswith("features.0.conv: 8 of 32 channels (112×112 each") for t in titles)
    assert at.header[-1].value == "4 · Predictions"  # the rest of the page still renders

    at.text_input(key="fk_custom").set_value("0 0 0 0 0; 0 0 0 0 0; 0 0 1 0 0; 0 0 0 0 0; 0 0 0 0 0").run()
    assert not at.exception and not at.error
    assert any(t == "5×5 kernel" for t in chart_titles(at))


def test_untrained_model_says_so_and_choosing_layers_and_filters_works():
    at = open_page(PAGE, fm_model="resnet18")
    assert not at.exception
    assert at.selectbox(key="fm_model").value == "resnet18"
    assert "resnet18 (untrained here)" in at.selectbox(key="fm_model").options  # the label; the URL keeps the name
    (warning,) = at.warning  # one message about the missing weights, not two
    assert "not in the torch hub cache" in warning.value and "random weights" in warning.value
    assert any("untrained here, so it makes no prediction" in i.value for i in at.info)
    assert not [c for c in at.get("plotly_chart") if "top-5" in c.proto.spec]
    assert at.selectbox(key="fm_layer").value == "layer1 · stage · 64×56×56"
    assert at.selectbox(key="ff_layer").value == "layer1.0.conv1"
    at.selectbox(key="fm_layer").set_value("layer4 · stage · 512×7×7").run()
    at.number_input(key="ff_filter").set_value(5).run()
    at.selectbox(key="fm_channel").set_value("7").run()
    assert not at.exception
    assert any(t.startswith("layer4, channel 7: 7×7, values") for t in chart_titles(at))
    titles = chart_titles(at)
    assert any(t.startswith("layer4: 32 of 512 channels (7×7 each") for t in titles)
    assert any(t.startswith("layer1.0.conv1, filter 5: all 64 slices of 3×3") for t in titles)
    assert any("K×K×3×C_out = 7×7×3×64" in t for t in titles)


def test_switching_the_model_drops_the_old_models_layer_settings():
    at = open_page(PAGE, fm_layer="features.5 · stage · 112×14×14", ff_filter="3")
    assert at.selectbox(key="fm_layer").value == "features.5 · stage · 112×14×14"
    at.selectbox(key="fm_model").set_value("resnet18").run()
    assert not at.exception
    assert at.query_params["fm_model"] == "resnet18"  # the plain name, not the label
    assert at.selectbox(key="fm_layer").value == "layer1 · stage · 64×56×56"  # the new model's default
    at.selectbox(key="fm_model").set_value("efficientnet_lite0").run()
    assert "fm_model" not in at.query_params  # the default model: no parameter


def test_guess_first_hides_the_top5_until_a_class_is_guessed():
    """Issue 21: with ?guess=1 the predictions wait for a guess of the top-1 class and Reveal."""
    loaded = zoo.load(registry.DEFAULT_MODEL)
    top = zoo.predict(loaded, images.sample_image("chelsea (cat)"), k=5)
    at = open_page(PAGE, guess="1")
    assert not at.exception
    assert not any("top-5" in t for t in chart_titles(at))
    picker = at.selectbox(key="guess_fm_top1_0")
    assert picker.value is None and top[1][0] in picker.options and len(picker.options) == 1000
    picker.set_value(top[1][0])
    at.button(key="guess_fm_top1_reveal").click().run()
    assert not at.exception
    assert any("top-5" in t for t in chart_titles(at))
    text = " ".join(m.value for m in at.markdown)
    assert f"the model says “{top[0][0]}”: not its first choice, but its guess number 2" in text
    assert f"({top[1][1]:.1%}, against {top[0][1]:.1%})" in text
