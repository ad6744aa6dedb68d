"""What a follower's address becomes: the teacher's settings, their own photo, model and run, never a secret."""

from explorer.classroom import views


def test_the_teacher_secret_the_class_and_the_run_are_never_shared():
    teacher = {"ca_stride": ["2"], "class": ["K7MQ2P"], "teacher": ["s3cret"], "run": ["abc"], "embed": ["true"]}
    assert views.shared(teacher) == {"ca_stride": ["2"]}
    assert views.follower_params(teacher, {}, "AAAAAA") == {"ca_stride": ["2"], "class": ["AAAAAA"]}


def test_the_projectors_layout_stays_the_teachers_and_guess_first_is_shared():
    teacher = {"ca_stride": ["2"], "present": ["1"], "guess": ["1"]}
    assert views.shared(teacher) == {"ca_stride": ["2"], "guess": ["1"]}


def test_a_student_keeps_their_photo_model_and_run_and_the_teachers_photo_becomes_the_gallery():
    teacher = {"img_src": ["Upload"], "img": ["coffee"], "at_model": ["resnet18"], "at_methods": ["Saliency", "Grad-CAM"]}
    alone = views.follower_params(teacher, {}, "K7MQ2P")
    assert "img_src" not in alone and alone["img"] == ["coffee"] and alone["at_model"] == ["resnet18"]
    own = views.follower_params(teacher, {"img_src": "Webcam", "at_model": "your run #1", "run": "r1"}, "K7MQ2P")
    assert own["img_src"] == ["Webcam"] and own["at_model"] == ["your run #1"] and own["run"] == ["r1"]
    assert own["at_methods"] == ["Saliency", "Grad-CAM"]  # repeated keys keep their order


def test_a_published_view_is_bounded():
    huge = {f"k{i}": ["v"] for i in range(500)}
    huge.update({"long": ["x" * 10_000], "k" * 100: ["v"], "many": [str(i) for i in range(100)], "n": [1, "ok"]})
    kept = views.bounded(huge)
    assert len(kept) == views.MAX_KEYS and "long" not in kept and "k" * 100 not in kept
    assert views.bounded({"many": [str(i) for i in range(100)]})["many"] == [str(i) for i in range(views.MAX_VALUES)]
    assert views.bounded({"n": [1, "ok"]}) == {"n": ["ok"]}
    assert views.parse("a=1&b=2&b=3&c=") == {"a": ["1"], "b": ["2", "3"], "c": [""]}
    assert views.parse("a=" + "x" * 40_000) == {}


def test_pages_and_encoding():
    assert views.valid_page("receptive-fields") == "receptive-fields" and views.valid_page("") == ""
    for bad in ("../x", "a/b", "x" * 65, None, "<b>"):
        assert views.valid_page(bad) is None
    assert views.encode({"b": ["2"], "a": ["1", "x y"]}) == "a=1&a=x+y&b=2"
    assert views.same({"a": ["1"], "b": ["2"]}, {"b": ["2"], "a": ["1"]})
    assert not views.same({"a": ["1", "2"]}, {"a": ["2", "1"]})
