"""AppTest of the Receptive fields page: defaults, settings from the URL, bad input shown in place, custom networks."""

from __future__ import annotations

import json
import time

from explorer.models import custom_net
from explorer.receptive_fields import fields as rf
from tests.pages.apptest import chart_titles, open_page, page_text
from ui.shared_tasks import task_store
from explorer.training.config import CUSTOM

PAGE = "app_pages/receptive_fields.py"


def _subtitles(at) -> list[str]:
    return [json.loads(c.proto.spec).get("layout", {}).get("title", {}).get("subtitle", {}).get("text", "")
            for c in at.get("plotly_chart")]


def test_default_page_shows_growth_unit_and_toy_stack():
    at = open_page(PAGE)
    assert not at.exception and not at.error
    assert [h.value for h in at.header] == ["1 · How far each layer sees", "2 · One unit's field on your photo",
                                            "3 · The lecture's toy stack"]
    assert at.selectbox(key="rf_model").value == "efficientnet_lite0"
    assert at.number_input(key="rf_size").value == 224
    assert at.select_slider(key="rf_layer").value == "features.3"
    assert (at.slider(key="rf_row").value, at.slider(key="rf_col").value) == (14, 14)
    titles = chart_titles(at)
    assert any(t.startswith("Receptive field against depth") for t in titles)
    assert "features.3, unit (14, 14): 67×67 px" in titles
    assert "on gallery photo “chelsea (cat)”" in _subtitles(at)
    assert any(t.startswith("features.3: mean over channels (28×28)") for t in titles)
    assert any(t.startswith("after layer 3: the centre unit sees 7×7") for t in titles)
    text = page_text(at)
    assert "sees rows 86…152 and columns 86…152" in text and "**0%** of it in the zero padding" in text
    assert "1 + L·(K − 1) = 1 + 3·(3 − 1) = 7" in text
    assert any("31 px lower and further right" in i.value for i in at.info)


def test_settings_come_from_the_url():
    at = open_page(PAGE, rf_model="resnet50", rf_layer="layer4", rf_row="0", rf_col="0", rf_cmp="alexnet",
                   rf_L="4", rf_S="2", rf_n="3", rf_C="16")
    assert not at.exception and not at.error
    assert at.select_slider(key="rf_layer").value == "layer4"
    text = page_text(at)
    assert "a **427×427 px** box" in text and "of it in the zero padding" in text
    assert any("layer4 would see 483 px" in i.value for i in at.info)
    assert "1 + (K − 1)·(1 + S + … + S^(L−1)) = 1 + (3 − 1)·(1 + 2 + 2^2 + 2^3) = 31" in text
    assert at.select_slider(key="rf_n").value == 3 and "3 × 3×3" in at.dataframe[-1].value.columns


def test_another_model_starts_at_its_default_layer_and_centre_unit():
    at = open_page(PAGE, rf_model="resnet50", rf_layer="layer4", rf_map="channel 3")  # a shared link
    at.slider(key="rf_row").set_value(0).run()
    at.selectbox(key="rf_model").select("alexnet").run()  # the bound URL values are set, not deleted (refused)
    assert not at.exception and not at.error
    layer = at.select_slider(key="rf_layer").value
    assert layer != "layer4" and layer.startswith("features.") and "rf_layer" not in at.query_params
    rows = at.slider(key="rf_row")
    assert rows.value == rows.max // 2 and at.selectbox(key="rf_map").value == "mean over channels"


def test_changing_layer_keeps_the_unit_at_the_same_place():
    at = open_page(PAGE)
    at.slider(key="rf_row").set_value(3).run()
    at.slider(key="rf_col").set_value(20).run()  # features.3 (jump 8): unit (3, 20) is centred at (31, 167)
    at.select_slider(key="rf_layer").set_value("features.5").run()  # jump 16, unit u centred at 15 + 16 u
    assert not at.exception
    assert (at.slider(key="rf_row").value, at.slider(key="rf_col").value) == (1, 9)


def test_bad_addresses_and_inputs_get_messages_and_the_rest_works():
    at = open_page(PAGE, rf_row="99", rf_layer="features.nope")
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "layer features.nope, which EfficientNet-Lite0 does not have" in warnings
    assert "unit row 99, which features.3's map (28 rows: 0–27) does not have" in warnings
    assert at.slider(key="rf_row").value == 14

    at = open_page(PAGE, rf_model="alexnet", rf_size="40")
    assert not at.exception
    assert any("A 40×40 px input is too small for this network" in e.value and "use at least 63×63 px" in e.value
               for e in at.error)
    assert at.header[-1].value == "3 · The lecture's toy stack" and at.get("plotly_chart")  # the toy stack still works

    at = open_page(PAGE, rf_L="6", rf_K="7", rf_S="3", rf_D="3")
    assert not at.exception
    assert any("too large to draw cell by cell" in i.value for i in at.info)


def _settled(at, timeout: float = 120.0):
    """Wait until no shared task of this process runs any more (the effective fields are Dask tasks that outlive
    the script run), then run the page again, as the progress fragment does when they end."""
    deadline = time.time() + timeout
    while any(s.active for s in list(task_store()._tasks.values())) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(s.active for s in list(task_store()._tasks.values()))
    return at.run()


def test_effective_field_with_trained_and_random_weights():
    at = open_page(PAGE, rf_erf="true", rf_nimg="1", rf_layer="features.2")
    assert not at.exception and not at.error
    at = _settled(at)
    assert not at.exception and not at.error
    titles = chart_titles(at)
    assert any(t.startswith("trained weights: 90% in") for t in titles)
    assert any(t.startswith("random weights: 90% in") for t in titles)
    assert "Training made the square" in page_text(at)
    assert at.toggle(key="rf_erf").value and not at.get("progress")


def test_effective_field_shows_its_progress_and_stops():
    # ResNet-50 (random weights here) at an input size no other test uses: a new task of about 10 s on one core.
    at = open_page(PAGE, rf_model="resnet50", rf_size="320", rf_layer="layer4", rf_erf="true", rf_nimg="12")
    assert not at.exception and not at.error
    assert [p.text for p in at.get("progress")][0].startswith(("random weights: ", "Effective receptive field"))
    at.button(key="rf_erf_stop").click().run()
    assert not at.exception
    at = _settled(at)
    assert not at.exception and not at.error
    assert at.toggle(key="rf_erf").value and at.query_params["rf_erf"] == "true"
    assert any("Effective receptive field of layer4 cancelled after" in w.value and "of 12 images" in w.value
               or w.value.endswith("was cancelled.")  # it still waited for a free core (other tests' tasks)
               for w in at.warning)
    assert not any(t.startswith("random weights:") for t in chart_titles(at)) and not at.get("progress")

    at.button(key="rf_erf_again").click().run()  # the stopped field starts afresh
    assert not at.exception and not at.warning
    assert at.get("progress") and at.button(key="rf_erf_stop")
    at.toggle(key="rf_erf").set_value(False).run()  # turning it off stops it too (nobody else waits for it)
    assert not at.exception and not at.get("progress")
    _settled(at)


def _with_network(spec, shape, **query):
    at = open_page("app_pages/home.py")
    at.session_state["custom_network"] = spec
    at.session_state["custom_network_input"] = shape
    at.switch_page(PAGE)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_the_network_built_on_the_architectures_page():
    at = _with_network(custom_net.LECTURE_CNN, (1, 28, 28), rf_model=CUSTOM, rf_erf="true", rf_nimg="1")
    assert not at.exception and not at.error
    at = _settled(at)
    assert not at.exception and not at.error
    assert at.selectbox(key="rf_model").value == CUSTOM
    assert at.query_params["rf_net"] == custom_net.to_config(custom_net.LECTURE_CNN, (1, 28, 28))
    titles = chart_titles(at)
    assert "0, unit (12, 12): 5×5 px" in titles  # the first 5×5 convolution
    assert any(t.startswith("random weights: 90% in") for t in titles)
    assert "only the random-weight field is shown" in page_text(at)

    five = [{"layer": "Conv2d", "size": 4, "kernel": 3, "stride": 1, "padding": 1}, {"layer": "Flatten"},
            {"layer": "Linear", "size": 10}]
    at = _with_network(five, (5, 8, 8), rf_model=CUSTOM)
    assert not at.exception
    assert any("takes 5 input channels" in e.value for e in at.error)


def test_the_box_keeps_its_place_as_the_layer_slider_goes_deeper_and_back_and_a_new_model_centres_it():
    """Issue 21: going back to a finer layer left the unit where the coarser layer had put it (the address's old
    value won over the callback's), and a model switch kept the old unit, in the padding."""
    from ui.receptive_fields import data  # noqa: PLC0415

    def centre(at):
        f = rf.find(data.fields("efficientnet_lite0", (224, 224)), at.select_slider(key="rf_layer").value)
        return f.rows.centre(at.slider(key="rf_row").value), f.cols.centre(at.slider(key="rf_col").value)

    at = open_page(PAGE)
    at.slider(key="rf_row").set_value(20).run()
    at.slider(key="rf_col").set_value(5).run()
    assert centre(at) == (167.0, 47.0)
    at.select_slider(key="rf_layer").set_value("features.6").run()
    assert centre(at) == (159.0, 31.0)  # the nearest unit of a map 32 px apart
    at.select_slider(key="rf_layer").set_value("features.3").run()
    assert centre(at) == (167.0, 47.0) and at.query_params["rf_row"] == "20" and at.query_params["rf_col"] == "5"
    at.select_slider(key="rf_layer").set_value("features.2").run()
    assert centre(at) == (167.0, 47.0)
    at.selectbox(key="rf_model").set_value("resnet18").run()
    assert not at.exception
    h, w = rf.find(data.fields("resnet18", (224, 224)), at.select_slider(key="rf_layer").value).output_size
    assert (at.slider(key="rf_row").value, at.slider(key="rf_col").value) == (h // 2, w // 2)
