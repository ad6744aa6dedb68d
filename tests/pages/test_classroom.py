"""AppTest: class mode on the home page and in the router, a teacher's session and a student's, one scheduler.

The teacher starts a class and gets the join screen (code, link, QR code, teacher link) and the sidebar's
controls; a student who opens the join link follows the teacher's view; wrong and malformed codes get one
sentence; the teacher's name is shown escaped, never as markdown. (Chromium: tests/e2e/test_classroom.py.)
"""

import html
import io
import re

from PIL import Image

from explorer.classroom import codes, store
from explorer.runtime import cluster
from ui.classroom import teacher as teacher_ui
from ui.classroom.poller import POLLER
from tests.pages.apptest import ROOT, TIMEOUT, page_text
from streamlit.testing.v1 import AppTest

NAME = "[Rivera](http://e.x) :red[x] <b>y</b>"  # 34 characters: within codes.MAX_NAME


def _app(**query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def _html(at: AppTest) -> str:
    """The bodies of the page's st.html elements, as sent (escaped)."""
    return " ".join(e.proto.body for e in at.get("html"))


def _shown(at: AppTest) -> str:
    """The text those bodies show."""
    return html.unescape(re.sub(r"<[^>]+>", "", _html(at)))


def _change(at: AppTest, key: str, value: int) -> None:
    """Move a slider bound to the address: the browser writes its value into the address, then reruns."""
    at.query_params[key] = str(value)
    at.slider(key=key).set_value(value).run()


def _start(name: str = NAME) -> tuple[AppTest, str]:
    teacher = _app()
    teacher.text_input(key="cls_name").input(name)
    teacher.button(key="cls_start").click().run()
    assert not teacher.exception
    found = re.search(r'data-testid="cls-code">(\w{3})-(\w{3})<', _html(teacher))
    return teacher, found.group(1) + found.group(2)


def test_starting_a_class_shows_the_join_screen_and_the_teachers_controls():
    teacher, code = _start()
    html = _html(teacher)
    assert codes.normalize_code(code) == code and f"/?class={code}" in html
    assert "Presenting class" in html and "0 following · 0 exploring" in html
    assert len(teacher.get("image")) == 1  # the QR code
    qr = Image.open(io.BytesIO(teacher_ui.qr_png(f"http://host:8501/?class={code}"))).convert("L")
    assert qr.size[0] == qr.size[1] >= 250 and set(qr.get_flattened_data()) <= {0, 255}
    secret_link = teacher.code[0].value
    assert f"class={code}&teacher=" in secret_link and codes.valid_secret(secret_link.rsplit("=", 1)[1])
    assert teacher.toggle(key="cls_pause").value is False
    state = store.get(cluster.engine().client, code)
    assert state.live() and state.name == NAME and state.view.page == ""
    # The name is shown escaped in HTML, and never reaches markdown (where it would become a link and colour).
    assert "[Rivera](http://e.x) :red[x] &lt;b&gt;y&lt;/b&gt;" in html
    assert "Rivera" not in page_text(teacher)


def test_a_student_follows_the_teachers_page_and_settings():
    teacher, code = _start("Ms Rivera")
    student = _app(**{"class": code})
    assert not student.exception
    assert "Following Ms Rivera's view · class" in _shown(student)
    assert student.button(key="cls_explore").label == "Explore on my own"
    assert student.get("text_input") == [] or all(t.key != "cls_name" for t in student.text_input)
    teacher.switch_page("app_pages/conv_arithmetic.py").run()
    _change(teacher, "ca_stride", 2)
    assert teacher.metric[0].value == "1 × 2 × 2"
    POLLER.refresh()  # what the poller reads every 0.25 s
    student.run()  # the student's next run (a real server's poller asks for it)
    assert not student.exception
    assert student.slider(key="ca_stride").value == 2 and student.metric[0].value == "1 × 2 × 2"
    assert student.query_params["class"] == code and student.query_params["ca_stride"] == "2"
    # Exploring: the teacher's next change no longer reaches this student.
    student.button(key="cls_explore").click().run()
    assert "Exploring on your own" in _shown(student)
    _change(teacher, "ca_stride", 3)
    POLLER.refresh()
    student.run()
    assert student.slider(key="ca_stride").value == 2
    student.button(key="cls_follow").click().run()
    assert student.slider(key="ca_stride").value == 3 and "Following Ms Rivera's view" in _shown(student)


def test_wrong_and_malformed_codes_get_one_sentence_and_the_ordinary_app():
    for raw, sentence in [("ZZZZZZ", "There is no class with the code ZZZZZZ"),
                          ("[x](http://evil)", "This join link has no valid class code")]:
        at = _app(**{"class": raw})
        assert not at.exception
        assert sentence in page_text(at)
        assert "class" not in at.query_params and "Start a class" in [b.label for b in at.button]
