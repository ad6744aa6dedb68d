"""AppTest: the Transfer-learning page trains in the background and survives reruns and clicks."""

import time

from explorer import jobs
from tests.apptest import open_page


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
    assert any("features cached — each epoch takes milliseconds" in s.value for s in at.success)


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
    assert at.session_state["tl_run"] is run and run.status in (jobs.QUEUED, jobs.RUNNING)
    # A second start is refused while the first is active (the button is disabled, and jobs.start refuses).
    assert at.button(key="tl_start").disabled
    assert len(at.session_state["tl_runs"]) == 1
    at.button(key="tl_stop").click().run()
    at = _wait(at, run)
    assert run.status == jobs.STOPPED and run.result is not None
    assert not at.exception
    assert any("Stopped after" in s.value for s in at.success)


def test_finished_run_shows_confusion_matrix_and_misclassified_gallery():
    at = open_page("app_pages/transfer.py", tl_src="Demo: digits", tl_ndig="20", tl_bb="lenet5",
                   tl_strat="From scratch", tl_ep="2", tl_bs="32")
    at.button(key="tl_start").click().run()
    run = at.session_state["tl_run"]
    at = _wait(at, run)
    assert run.status == jobs.DONE and len(run.epochs) == 2
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
