"""AppTest of the Attributions page: defaults, URL settings, heavy maps on request, bad input shown in place."""

from __future__ import annotations

import json
import time

from explorer.training import trainer
from streamlit.testing.v1 import AppTest

from tests.pages.apptest import ROOT, TIMEOUT, chart_titles, open_page, page_text
from explorer.models import registry
from explorer.training.config import TrainConfig
from explorer.training import classifier

PAGE = "app_pages/attributions.py"


def test_default_page_shows_the_top5_and_the_cheap_maps_and_offers_the_heavy_ones():
    at = open_page(PAGE)
    assert not at.exception
    assert [h.value for h in at.header] == ["1 · What the model predicts", "2 · Maps side by side",
                                            "3 · Sanity checks: can the maps be trusted?"]
    assert at.selectbox(key="at_model").value == registry.DEFAULT_MODEL
    assert any("PyPI package efficientnet-lite0" in s.value for s in at.success)
    titles = chart_titles(at)
    assert titles[0].startswith("EfficientNet-Lite0: top 5 on gallery photo")
    assert titles[1:] == ["Grad-CAM · features.8", "Saliency (gradient)", "Guided Grad-CAM · features.8"]
    assert at.radio(key="at_rank").value == "1st guess"
    compute = at.button(key="at_compute")
    assert "Integrated Gradients" in compute.label and "Occlusion" in compute.label
    assert sum("Not computed yet" in i.value for i in at.info) == 4
    text = page_text(at)
    assert "169 forward passes, no backward pass" in text  # Occlusion's cost, before it runs
    assert "Sign: red = for the class, blue = against it" not in text  # signed maps are not drawn yet
    assert "“tiger cat”" in text


def test_settings_come_from_the_url():
    at = open_page(PAGE, at_rank="2nd guess", at_methods="Saliency (gradient)", at_opacity="0.4",
                   at_scale="Viridis", at_window="64", at_stride="32")
    assert not at.exception
    assert at.radio(key="at_rank").value == "2nd guess"
    assert at.multiselect(key="at_methods").value == ["Saliency (gradient)"]
    assert at.slider(key="at_opacity").value == 0.4 and at.selectbox(key="at_scale").value == "Viridis"
    assert chart_titles(at)[1:] == ["Saliency (gradient)"]
    assert "“Egyptian cat”" in page_text(at)  # the 2nd guess on the gallery cat
    assert at.get("metric")[0].value == "36"  # 6 × 6 windows of 64 px, stride 32, on 224 px


def test_heavy_maps_run_in_the_background_after_one_click():
    at = open_page(PAGE, at_methods="Occlusion (Zeiler & Fergus)", at_window="224", at_stride="128")
    assert not at.exception
    at.button(key="at_compute").click().run()
    deadline = time.time() + 120
    while not any(t.startswith("Occlusion") for t in chart_titles(at)) and time.time() < deadline:
        time.sleep(0.5)
        at.run()
    assert not at.exception
    assert "Occlusion (Zeiler & Fergus)" in chart_titles(at)
    assert "Sign: red = for the class, blue = against it. Cost: 1 forward pass" in page_text(at)


def test_a_cancelled_heavy_map_says_so_and_can_be_started_again():
    at = open_page(PAGE, at_methods="Integrated Gradients", at_steps="256")
    at.button(key="at_compute").click().run()
    at.button(key="at_cancel_integrated_gradients").click().run()
    deadline = time.time() + 120
    while not any("cancelled" in w.value for w in at.warning) and time.time() < deadline:
        time.sleep(0.3)
        at.run()
    assert not at.exception
    said = {"Integrated Gradients: cancelled before the map was finished.",  # it had started
            "Integrated Gradients was cancelled."}  # it still waited for a free core (other tests' tasks)
    assert any(w.value in said for w in at.warning)
    assert at.button(key="at_compute").label == "Compute Integrated Gradients"  # offered again
    assert "Sanity checks" in at.header[-1].value


def test_bad_input_is_shown_in_place_and_the_rest_of_the_page_works():
    at = open_page(PAGE, at_window="256", at_model="mobilenet_v3_small",
                   at_layer="features.1.block.1.fc1 · conv · 8×1×1")
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "larger than the image the model sees (224×224 px)" in errors
    assert "has no spatial output" in errors
    assert any("random weights" in w.value for w in at.warning)  # untrained here: said so
    assert "Saliency (gradient)" in chart_titles(at)  # the other maps still render
    assert at.header[-1].value.startswith("3 · Sanity checks")


def test_a_link_to_another_sessions_model_falls_back_with_a_message():
    at = open_page(PAGE, at_model="your run #99 efficientnet_lite0 · Feature extraction (linear probe)")
    assert not at.exception
    assert any("trained in another session" in w.value for w in at.warning)
    assert at.selectbox(key="at_model").value == registry.DEFAULT_MODEL


def test_a_model_trained_in_the_session_is_explained_and_a_missing_guess_is_refused():
    config = TrainConfig(backbone="lenet5", strategy="scratch")
    model, _, _ = trainer.architecture("lenet5", 2, pretrained=False)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.session_state["tl_imported"] = classifier.TrainedModel(model, ["<b>cats</b>", "dogs"], config)
    at.run()
    at.switch_page(PAGE)
    at.query_params["at_model"] = "your model loaded from file (lenet5)"  # as a shared link would carry it
    at.query_params["at_rank"] = "5th guess"
    at.run()
    assert not at.exception
    assert at.selectbox(key="at_model").value == "your model loaded from file (lenet5)"
    assert any("only 2 classes, so it has no 5th guess" in e.value for e in at.error)
    assert "Grad-CAM · features.3" in chart_titles(at)  # LeNet-5's last spatial layer, 10×10
    assert "<b>cats</b>" not in json.dumps([c.proto.spec for c in at.get("plotly_chart")])  # class names escaped


def test_sanity_checks_run_and_say_which_methods_pass():
    # LeNet-5 (32 px, 5 blocks) keeps this a test of the page; tests/attribution/test_sanity_checks.py checks Lite0's numbers.
    at = open_page(PAGE, at_model="lenet5", at_methods="Grad-CAM", at_checks="Grad-CAM")
    assert "5 blocks to re-initialize" in page_text(at)
    at.button(key="at_run_checks").click().run()
    deadline = time.time() + 120
    while not at.dataframe and time.time() < deadline:
        time.sleep(0.5)
        at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["method"].tolist() == ["Grad-CAM"]
    verdicts = {"✅ pass", "❌ fail"}
    assert set(table["randomization"]) <= verdicts and set(table["deletion/insertion"]) <= verdicts
    titles = chart_titles(at)
    assert any(t.startswith("Cascading randomization") for t in titles)
    assert any(t.startswith("Grad-CAM: the map as the weights are re-initialized") for t in titles)
    assert any(t.startswith("Grad-CAM: deletion and insertion") for t in titles)


def test_transfer_mistakes_show_grad_cam_and_open_on_this_page():
    at = open_page("app_pages/transfer.py", tl_src="Demo: digits", tl_ndig="20", tl_bb="lenet5",
                   tl_strat="From scratch", tl_ep="1", tl_bs="32")
    at.button(key="tl_start").click().run()
    run = at.session_state["tl_run"]
    deadline = time.time() + 120
    while run.active and time.time() < deadline:
        time.sleep(0.2)
    at.run()
    wrong = run.evaluation.misclassified
    assert wrong, "one epoch of LeNet-5 on 40 digits leaves mistakes"
    images_before = len(at.get("image"))
    at.toggle(key=f"tl_cam_{run.id}").set_value(True).run()
    assert not at.exception
    assert len(at.get("image")) > images_before  # the Grad-CAM overlays
    assert any("at its last spatial layer (features.3)" in c.value for c in at.caption)
    at.button(key=f"tl_explain_{run.id}_{wrong[0]}").click().run()
    assert not at.exception
    assert at.title[0].value == "Attributions"
    assert at.selectbox(key="at_model").value == f"your run {run.label}"
    assert at.segmented_control(key="img_src").value == "Upload"
    assert at.session_state["picker_image"][0].startswith(f"validation image {wrong[0]} of run #{run.id}")
    assert "Grad-CAM · features.3" in chart_titles(at)


def test_a_new_model_or_photo_never_holds_the_page_while_the_maps_are_computed(monkeypatch):
    """Issue 17: the first forward pass and the cheap maps run in the background; the page says so, then shows them."""
    from ui.attributions import choice, maps  # noqa: PLC0415

    monkeypatch.setattr(choice, "QUICK_S", 0.0)
    monkeypatch.setattr(maps, "QUICK_S", 0.0)
    at = open_page(PAGE, at_model="mobilenet_v3_small", at_rank="2nd guess")  # a model and class nobody asked for
    assert not at.exception
    deadline = time.time() + 120
    seen_waiting = False
    while time.time() < deadline:
        waiting = any(i.value.startswith("Running MobileNet v3 Small on your photo") for i in at.info)
        computing = any("computing" in (p.proto.text or "") for p in at.get("progress"))
        seen_waiting |= waiting or computing
        if not waiting and not computing:
            break
        time.sleep(0.3)
        at.run()
    assert seen_waiting and not at.exception
    assert {"Saliency (gradient)", "Grad-CAM · features.12"} <= set(chart_titles(at))
