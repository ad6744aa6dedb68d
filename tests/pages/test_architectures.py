"""AppTest of the Architectures page: each tab, URL restore, interactions and student-facing errors."""

import json

import pytest

from explorer.models import custom_net as cn
from explorer.architecture.comparison import profile_model
from explorer.architecture.profiling import CONVENTION
from tests.pages.apptest import open_page, page_text
from explorer.models import registry

PAGE = "app_pages/architectures.py"


def test_one_model_tab_defaults_to_vgg16_with_table_charts_and_convention():
    at = open_page(PAGE)
    assert not at.exception
    assert at.selectbox(key="ar_model").value == "vgg16"
    prof = profile_model("vgg16")
    assert at.metric[0].value == f"{prof.params:,}"
    assert at.metric[1].value == f"{prof.macs / 1e9:,.3f} G"
    assert CONVENTION in page_text(at)
    assert "Linear layers hold 89%" in page_text(at)  # the story, from VGG-16's own numbers
    frame = at.dataframe[0].value
    assert len(frame) == len(prof.layers) and frame["params"].sum() == prof.params
    assert len(at.get("plotly_chart")) == 2  # per-layer bars and training memory
    assert at.get("download_button")


def test_url_restores_model_grouping_and_batch():
    at = open_page(PAGE, ar_model="resnet50", ar_group="stages", ar_batch="2")
    assert not at.exception
    groups = list(at.dataframe[0].value["group"])
    assert groups[:4] == ["conv1", "bn1", "relu", "maxpool"] and "layer4" in groups
    macs = profile_model("resnet50", batch_size=2).macs
    assert at.metric[1].value == f"{macs / 1e9:,.3f} G"
    assert at.dataframe[0].value["MMACs"].sum() * 1e6 == pytest.approx(macs)


def test_choosing_a_model_resets_the_input_size_to_its_crop():
    at = open_page(PAGE)
    at.selectbox(key="ar_model").set_value("inception_v3").run()
    assert not at.exception
    assert at.number_input(key="ar_size").value == 299
    assert at.segmented_control(key="ar_group").value == "blocks"  # 190 layers: grouped by default
    assert any(g.startswith("Mixed_5b.") for g in at.dataframe[0].value["group"])
    assert at.metric[0].value == f"{registry.info('inception_v3').num_params:,}"


def test_too_small_input_shows_an_error_not_a_traceback():
    at = open_page(PAGE, ar_model="alexnet", ar_size="16")
    assert not at.exception
    assert any("cannot take a 16×16 input" in e.value for e in at.error)


def test_training_memory_slider_changes_the_estimate():
    at = open_page(PAGE, ar_model="resnet18")
    before = [c.value for c in at.caption if c.value.startswith("Weights")][0]
    at.slider(key="ar_tbatch").set_value(64).run()
    after = [c.value for c in at.caption if c.value.startswith("Weights")][0]
    assert before != after and "batch 64" in after


def test_compare_tab_shows_ratios_beside_the_lecture():
    at = open_page(PAGE, ar_tab="Compare models")
    assert not at.exception
    assert at.multiselect(key="ar_cmp").value[:2] == ["alexnet", "vgg16"]
    labels = {m.label: m for m in at.metric}
    assert labels["params ratio"].value == "2.3×" and "2.3×" in labels["params ratio"].delta
    assert labels["MACs ratio"].value == "21.7×" and "19.4×" in labels["MACs ratio"].delta
    assert "19.4×" in page_text(at) and CONVENTION in page_text(at)


def test_lecture_tables_tab_explains_disagreements():
    at = open_page(PAGE, ar_tab="Lecture tables")
    assert not at.exception
    text = page_text(at)
    assert "149.5 M" in text and "excludes the bias" in text and "15.2 M" in text and "v1.5" in text
    assert len(at.dataframe) >= 5


def test_calculators_tab_recomputes_depthwise_numbers():
    at = open_page(PAGE, ar_tab="Calculators")
    assert not at.exception
    assert "921,601,000" in page_text(at)
    assert any("271 M" in w.value for w in at.warning)
    at.number_input(key="ar_c6_m").set_value(512)
    at.number_input(key="ar_c6_n").set_value(512).run()
    assert "2,359,296 against 266,752" in page_text(at)


def test_builder_keeps_the_network_in_session_and_url():
    at = open_page(PAGE, ar_tab="Build your own")
    assert not at.exception
    assert at.session_state["custom_network"] == cn.LECTURE_CNN
    assert at.session_state["custom_network_input"] == (1, 28, 28)
    assert at.query_params["ar_net"] == cn.to_text(cn.LECTURE_CNN)
    assert "(64, 5, 5) → (1600,)" in page_text(at)
    assert at.metric[0].value == "431,754"


def test_builder_from_url_reports_the_layer_that_cannot_take_its_input():
    at = open_page(PAGE, ar_tab="Build your own", ar_net="Conv2d-8-3-1-0_Linear-10", ar_b_c="3", ar_b_h="8",
                   ar_b_w="8")
    assert not at.exception
    assert any("Layer 2 (Linear → 10) needs a flat input (features,) but gets (8, 6, 6)" in e.value for e in at.error)


def test_builder_preset_button_loads_a_residual_network():
    at = open_page(PAGE, ar_tab="Build your own")
    at.button(key="ar_b_preset_Small ResN").click().run()
    assert not at.exception
    assert at.number_input(key="ar_b_c").value == 3
    assert any(layer["layer"] == "Residual" for layer in at.session_state["custom_network"])


def test_calculators_show_the_lecture_dense_layers_and_refuse_out_of_range_input():
    at = open_page(PAGE, ar_tab="Calculators")
    text = page_text(at)
    assert "43,713,331,200" in " ".join(i.value for i in at.info) and "44,892,355,200" in text
    at.number_input(key="ar_c1_h").set_value(5000).run()
    assert not at.exception
    assert any("height must be a whole number from 1 to 4,096 (it is 5,000)" in e.value for e in at.error)
    assert "The lecture rounds 921,601,000" not in page_text(at)  # the panel shows no result for the refused input
    at.number_input(key="ar_c1_h").set_value(320).run()
    assert "The lecture's example, 640 × 480 × 3 → 1,000 units" in page_text(at)  # not "the lecture rounds"
    at.number_input(key="ar_fc_u").set_value(40_000).run()
    assert "1,600,040,000" in page_text(at) and "≈ 2 B" in page_text(at)
    at.number_input(key="ar_ax_size").set_value(224).run()
    assert "54 × 54 × 96" in " ".join(str(v) for v in at.dataframe[1].value["output"])


def test_builder_chart_names_its_layers_on_a_categorical_axis():
    """Issue 21: labels such as "  0 0" read as the number 0 to Plotly (it strips spaces), so the axis showed 0…100."""
    at = open_page(PAGE, ar_tab="Build your own")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    bars = [trace for trace in spec["data"] if trace["type"] == "bar"]
    assert len(bars) == 3
    for trace in bars:
        axis = spec["layout"]["yaxis" + trace["yaxis"].removeprefix("y")]
        assert axis["type"] == "category"
        assert [label.split()[-1] for label in trace["y"]] == [str(i) for i in range(len(cn.LECTURE_CNN))]


def test_guess_first_hides_the_calculators_results_until_reveal():
    """Issue 21: with ?guess=1 each calculator's table waits for a guess of its counts and Reveal."""
    import torch  # noqa: PLC0415

    with torch.device("meta"):  # the lecture's dense layer has 921 M weights: count them without allocating
        dense, conv = torch.nn.Linear(640 * 480 * 3, 1000), torch.nn.Conv2d(3, 1000, 3)
    truth = [sum(p.numel() for p in m.parameters()) for m in (dense, conv)]
    at = open_page(PAGE, ar_tab="Calculators", guess="1")
    assert not at.exception
    hidden = len(at.dataframe)
    assert not any("part" in d.value.columns for d in at.dataframe) and "43,713,331,200" not in page_text(at)
    at.number_input(key="guess_ar_c1_table_0").set_value(truth[0])
    at.number_input(key="guess_ar_c1_table_1").set_value(30_000)
    at.button(key="guess_ar_c1_table_reveal").click().run()
    assert not at.exception
    text = page_text(at)
    assert f"it is {truth[0]:,}: exactly right" in text
    assert f"you said 30,000, it is {truth[1]:,}: 2,000 too high (7% off)" in text
    assert f"The dense layer needs **{truth[0]:,}** parameters" in text  # the panel's sentence is back
    assert "guess_ar_ax_table_reveal" in [b.key for b in at.button]  # the next panel still waits
    assert len(at.dataframe) == hidden + 1 and at.dataframe[0].value["part"][0] == "Dense 640×480×3 → 1000"
