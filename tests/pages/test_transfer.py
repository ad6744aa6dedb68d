"""AppTest: the Transfer-learning page trains in the background and survives reruns and clicks."""

import socket
import time

from streamlit.testing.v1 import AppTest

from explorer.runtime import cluster
from tests.pages.apptest import ROOT, TIMEOUT, open_page
from explorer.training.config import CUSTOM
from ui.models import CUSTOM_LABEL
from explorer.runtime import worker
from ui.transfer import results as transfer_results, run as transfer_run


def _wait(at, run, timeout=120):
    deadline = time.time() + timeout
    while run.active and time.time() < deadline:
        time.sleep(0.2)
    assert not run.active, "the run did not finish in time"
    return at.run()


def test_page_opens_on_demo_shapes_with_fast_path_note():
    at = open_page("app_pages/transfer.py")
    assert not at.exception
    assert at.segmented_control(key="tl_src").value == "Demo: shapes"
    assert any("the frozen backbone (100% of the multiply-adds) runs once on each of your" in s.value
               for s in at.success)


def test_a_run_survives_reruns_and_other_clicks_then_shows_results():
    at = open_page("app_pages/transfer.py", tl_src="Demo: shapes", tl_nshape="10", tl_bb="lenet5",
                   tl_strat="From scratch", tl_ep="40", tl_bs="4")
    assert not at.exception
    at.button(key="tl_start").click().run()
    run = at.session_state["tl_run"]
    assert run.active and run.config.backbone == "lenet5" and run.config.epochs == 40
    # Clicking other widgets reruns the script: the same run object keeps training.
    at.slider(key="tl_rot").set_value(10).run()
    at.run()
    assert at.session_state["tl_run"] is run and run.status in (worker.QUEUED, worker.RUNNING)
    # A second start is refused while the first is active (the button is disabled, and jobs.start refuses).
    assert at.button(key="tl_start").disabled
    assert len(at.session_state["tl_runs"]) == 1
    at.button(key="tl_stop").click().run()
    at = _wait(at, run)
    assert run.status == worker.STOPPED and run.result is not None
    assert not at.exception
    assert any("Stopped after" in s.value for s in at.success)


def test_finished_run_shows_confusion_matrix_and_misclassified_gallery():
    at = open_page("app_pages/transfer.py", tl_src="Demo: digits", tl_ndig="20", tl_bb="lenet5",
                   tl_strat="From scratch", tl_ep="2", tl_bs="32")
    at.button(key="tl_start").click().run()
    run = at.session_state["tl_run"]
    at = _wait(at, run)
    assert run.status == worker.DONE and len(run.epochs) == 2
    assert not at.exception
    assert any("Finished after 2 epochs" in s.value for s in at.success)
    assert any("Misclassified validation images" in m.value for m in at.markdown)
    assert at.selectbox(key="tl_sel").value == run.label


def test_bad_data_shows_a_message_and_keeps_the_page():
    at = open_page("app_pages/transfer.py", tl_src="Your classes")
    assert not at.exception
    assert any("has 0 images" in e.value for e in at.error)
    assert at.button(key="tl_start").disabled
    first, second = at.session_state["tl_classes"]
    at.text_input(key=f"tl_cname_{second['id']}").set_value(first["name"].upper()).run()
    assert any("Two classes are called" in e.value for e in at.error)


def _page_with_custom_network(spec, shape, **query):
    """The page with a network in session state, as the Architectures page leaves it."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.session_state["custom_network"] = spec
    at.session_state["custom_network_input"] = shape
    at.switch_page("app_pages/transfer.py")
    return at.run()


def test_without_a_custom_network_the_page_says_where_to_build_one():
    at = open_page("app_pages/transfer.py")
    assert CUSTOM_LABEL not in at.selectbox(key="tl_bb").options
    assert any("Architectures page" in c.value for c in at.caption)


def test_a_custom_network_is_offered_forced_to_scratch_and_trains_end_to_end():
    spec = [{"layer": "Conv2d", "size": 8, "kernel": 3, "stride": 1, "padding": 1}, {"layer": "ReLU"},
            {"layer": "MaxPool2d", "kernel": 2, "stride": 2, "padding": 0}, {"layer": "Flatten"},
            {"layer": "Linear", "size": 10}]
    at = _page_with_custom_network(spec, (1, 16, 16), tl_src="Demo: digits", tl_ndig="20", tl_ep="2", tl_bs="32")
    assert not at.exception
    assert at.selectbox(key="tl_bb").options[-1] == CUSTOM_LABEL
    at.selectbox(key="tl_bb").set_value(CUSTOM).run()
    assert not at.exception
    strategy = at.radio(key="tl_strat")
    assert strategy.value == "From scratch" and strategy.disabled
    assert any("no pretrained weights" in c.value and "16×16 grayscale" in c.value for c in at.caption)
    at.button(key="tl_start").click().run()
    run = at.session_state["tl_run"]
    assert run.config.backbone == "custom" and run.config.strategy == "scratch"
    assert run.config.custom_net == "1x16x16:Conv2d-8-3-1-1_ReLU_MaxPool2d-2-2-0_Flatten_Linear-10"
    at = _wait(at, run)
    assert run.status == worker.DONE, run.error
    assert len(run.epochs) == 2 and run.result.model[-1].out_features == 10
    assert not at.exception
    assert any("Finished after 2 epochs" in s.value for s in at.success)
    assert "custom network" in run.label


def test_the_network_built_on_the_architectures_page_is_offered_here():
    at = open_page("app_pages/architectures.py", ar_tab="Build your own")
    assert at.session_state["custom_network_input"] == (1, 28, 28)
    at.switch_page("app_pages/transfer.py").run()
    assert not at.exception
    assert at.selectbox(key="tl_bb").options[-1] == CUSTOM_LABEL
    at.selectbox(key="tl_bb").set_value(CUSTOM).run()
    assert any("trained from scratch" in c.value and "28×28 grayscale" in c.value for c in at.caption)
    assert not at.error


def test_a_custom_network_that_cannot_classify_says_what_to_change():
    spec = [{"layer": "Flatten"}, {"layer": "Linear", "size": 10}, {"layer": "ReLU"}]
    at = _page_with_custom_network(spec, (1, 28, 28), tl_bb=CUSTOM)
    assert not at.exception
    assert at.selectbox(key="tl_bb").value == CUSTOM
    assert any("not a Linear layer" in e.value and "Architectures page" in e.value for e in at.error)
    at.button(key="tl_start").click().run()
    assert "tl_run" not in at.session_state
    assert not at.exception


def test_the_run_id_goes_in_the_url_and_the_link_picks_the_run_up_in_another_session():
    query = dict(tl_src="Demo: digits", tl_ndig="20", tl_bb="lenet5", tl_strat="From scratch", tl_ep="2", tl_bs="32")
    at = open_page("app_pages/transfer.py", **query)
    at.button(key="tl_start").click().run()
    run = at.session_state["tl_run"]
    assert at.query_params["run"] in (run.id, [run.id])
    at = _wait(at, run)
    # A new session opens the same link: a student moved to another web replica, or back after a restart.
    other = open_page("app_pages/transfer.py", **query, run=run.id)
    picked = other.session_state["tl_run"]
    assert picked is not run and picked.id == run.id and picked.status == worker.DONE and not other.exception
    assert picked.epochs == run.epochs and other.selectbox(key="tl_sel").value == picked.label
    assert any("Finished after 2 epochs" in s.value for s in other.success)
    assert any("validation images stay with the session" in c.value for c in other.caption)


def test_a_link_to_a_run_the_server_no_longer_keeps_says_so():
    at = open_page("app_pages/transfer.py", run="0123456789ab")
    assert not at.exception and "tl_run" not in at.session_state
    assert any("Run 0123456789ab from the link is no longer kept" in i.value for i in at.info)
    assert "run" not in at.query_params


def test_the_page_says_when_the_configured_scheduler_could_not_be_reached(monkeypatch):
    cluster.engine()  # this process's engine has started: the router's start() does nothing more
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv(cluster.SCHEDULER_ENV, address)
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    fallback = cluster.connect()  # what the server's start-up does with that setting
    monkeypatch.setattr(cluster, "_engine", fallback)
    try:
        at = open_page("app_pages/transfer.py")
        assert not at.exception
        assert any(f"The Dask scheduler at {address} could not be reached" in w.value for w in at.warning)
    finally:
        fallback.close()


def test_learning_rate_labels_follow_the_strategy_and_keep_their_value():
    at = open_page("app_pages/transfer.py", tl_bb="lenet5", tl_strat="From scratch", tl_lr="0.03")
    assert at.select_slider(key="tl_lr").label == "Learning rate (every layer)"
    assert not [s for s in at.select_slider if s.key == "tl_blr"]  # no backbone to give its own rate
    at.radio(key="tl_strat").set_value("Fine-tune the last N blocks").run()
    assert at.select_slider(key="tl_lr").label == "Learning rate (new head)"
    assert at.select_slider(key="tl_lr").value == 0.03
    assert at.select_slider(key="tl_blr").label == "Learning rate (fine-tuned blocks)"
    at.radio(key="tl_strat").set_value("Feature extraction (linear probe)").run()
    assert not [s for s in at.select_slider if s.key == "tl_blr"]
    assert not at.exception


def test_the_detail_view_follows_the_newest_run_unless_another_is_picked():
    at = open_page("app_pages/transfer.py", tl_src="Demo: digits", tl_ndig="10", tl_bb="lenet5",
                   tl_strat="From scratch", tl_ep="1", tl_bs="32")
    runs = []
    for _ in range(2):
        at.button(key="tl_start").click().run()
        runs.append(at.session_state["tl_run"])
        at = _wait(at, runs[-1])
        assert at.selectbox(key="tl_sel").value == runs[-1].label  # the newest
        assert any(f"Showing run #{runs[-1].number}, the newest" in c.value for c in at.caption)
        assert at.get("download_button")[0].proto.label.startswith(f"Download model of run #{runs[-1].number}")
    at.selectbox(key="tl_sel").set_value(runs[0].label).run()  # the student picks the older run
    at.button(key="tl_start").click().run()
    third = at.session_state["tl_run"]
    at = _wait(at, third)
    assert at.selectbox(key="tl_sel").value == runs[0].label  # their pick stays
    assert any(f"Showing run #{runs[0].number}, as you picked: run #{third.number} is newer" in c.value for c in at.caption)
    assert not at.exception


def test_a_from_scratch_run_at_chance_says_why_and_offers_feature_extraction():
    at = open_page("app_pages/transfer.py", tl_src="Demo: shapes", tl_nshape="10", tl_bb="lenet5",
                   tl_strat="From scratch", tl_ep="1", tl_bs="32", tl_lr="0.0001")
    at.button(key="tl_start").click().run()
    run = at.session_state["tl_run"]
    at = _wait(at, run)
    assert run.evaluation.near_chance  # one epoch at lr 1e-4 on 30 images: nothing learned (seed 0)
    (warning,) = [w for w in at.warning if "ended near chance" in w.value]
    assert "a few thousand examples" in warning.value and "feature extraction" in warning.value
    at.button(key=f"tl_try_probe_{run.id}").click().run()
    assert at.selectbox(key="tl_bb").value == "efficientnet_lite0"
    assert at.radio(key="tl_strat").value == "Feature extraction (linear probe)"
    assert not at.exception


def test_the_address_holds_the_run_shown_and_runs_are_named_by_number():
    """Issue 21: with run #1 picked in the detail view, the address held run #2's id; the CSV named runs by id."""
    query = dict(tl_src="Demo: digits", tl_ndig="20", tl_bb="lenet5", tl_strat="From scratch", tl_ep="2", tl_bs="32")
    at = open_page("app_pages/transfer.py", **query)
    runs = []
    for _ in range(2):
        at.button(key="tl_start").click().run()
        runs.append(at.session_state["tl_run"])
        at = _wait(at, runs[-1])
    first, second = runs
    assert at.query_params["run"] in (second.id, [second.id])
    at.selectbox(key="tl_sel").set_value(first.label).run()
    assert not at.exception
    assert any(f"Showing run #{first.number}, as you picked" in c.value for c in at.caption)
    assert at.query_params["run"] in (first.id, [first.id])
    at.run()  # a later rerun keeps it
    assert at.query_params["run"] in (first.id, [first.id])
    csv = transfer_results.metrics_csv(first)
    assert f"run #{first.number}" in csv and first.id not in csv


def test_a_run_waiting_for_a_computer_that_trains_reads_as_a_sentence():
    text = transfer_run.queue_message(1, 0, 0, "on the server")
    assert "resource" not in text and "`" not in text
    assert "none has joined yet" in text and "Your place in the queue: 1." in text
    assert "2 of 2 runs are training" in transfer_run.queue_message(3, 2, 2, "on the server")
