"""explorer.training.datasets: generated and real demo data, the stratified split, and the safe zip reader."""

import io
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from explorer.training import datasets
from tests.support import png


def _zip(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_demo_shapes_is_seeded_and_balanced():
    a, b = datasets.demo_shapes(5, seed=3), datasets.demo_shapes(5, seed=3)
    assert a.classes == ["circle", "square", "triangle"]
    assert a.counts() == {"circle": 5, "square": 5, "triangle": 5}
    assert all(np.array_equal(np.array(x), np.array(y)) for (x, _), (y, _) in zip(a.samples, b.samples))
    c = datasets.demo_shapes(5, seed=4)
    assert not np.array_equal(np.array(a.samples[0][0]), np.array(c.samples[0][0]))


def test_digits_are_sklearn_digits_upscaled():
    from sklearn.datasets import load_digits

    d = datasets.digits()
    assert len(d.samples) == 1797 and d.classes == [str(i) for i in range(10)]
    assert [label for _, label in d.samples] == load_digits().target.tolist()
    assert d.samples[0][0].size == (32, 32)


def test_split_is_stratified_seeded_and_disjoint():
    data = datasets.demo_shapes(10)
    train, val = datasets.split(data, 0.3, seed=1)
    assert len(val) == 9 and len(train) == 21
    assert sorted(label for _, label in val) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert {id(img) for img, _ in train}.isdisjoint({id(img) for img, _ in val})
    again, _ = datasets.split(data, 0.3, seed=1)
    other, _ = datasets.split(data, 0.3, seed=2)
    assert [id(i) for i, _ in again] == [id(i) for i, _ in train]
    assert [id(i) for i, _ in other] != [id(i) for i, _ in train]


@pytest.mark.parametrize("per_class, match", [
    ({"cats": [Image.new("RGB", (4, 4))] * 3}, "at least 2 classes"),
    ({"cats": [Image.new("RGB", (4, 4))] * 3, "dogs": [Image.new("RGB", (4, 4))]}, "“dogs” has 1 image"),
    ({"cats": [Image.new("RGB", (4, 4))] * 3, "dogs": []}, "“dogs” has 0 images"),
    ({"cats": [Image.new("RGB", (4, 4))] * 30, "dogs": [Image.new("RGB", (4, 4))] * 2}, "only 2 images"),
])
def test_bad_class_sets_are_refused(per_class, match):
    with pytest.raises(ValueError, match=match):
        datasets.split(datasets.from_classes(per_class), 0.8)


@pytest.mark.parametrize("names, match", [(["cats", " "], "empty name"), (["Cats", "cats "], "Two classes")])
def test_bad_class_names_are_refused(names, match):
    with pytest.raises(ValueError, match=match):
        datasets.from_classes([(n, [Image.new("RGB", (4, 4))] * 2) for n in names])


def test_zip_of_class_folders_skips_and_lists_bad_files():
    data = _zip({"top/cats/a.png": png(), "top/cats/b.png": png(), "top/dogs/c.png": png((0, 0, 200)),
                 "top/dogs/notes.txt": b"hello", "top/dogs/broken.jpg": png()[:30],
                 "top/.DS_Store": b"x", "__MACOSX/top/cats/._a.png": b"x"})
    ds = datasets.read_zip(data)
    assert ds.classes == ["cats", "dogs"] and ds.counts() == {"cats": 2, "dogs": 1}
    assert sorted(name for name, _ in ds.skipped) == ["top/dogs/broken.jpg", "top/dogs/notes.txt"]


def test_zip_images_are_stored_downscaled():
    ds = datasets.read_zip(_zip({"a/1.png": png(size=(1000, 600)), "b/2.png": png(size=(50, 40))}))
    assert max(ds.samples[0][0].size) == datasets.STORE_SIDE and ds.samples[1][0].size == (50, 40)


@pytest.mark.parametrize("entries, symlink, match", [
    ({"/etc/cats/a.png": png()}, None, "absolute"),
    ({"cats/../../a.png": png()}, None, "leaves its folder"),
    ({"C:/cats/a.png": png()}, None, "absolute"),
    ({"cats/a.png": png()}, "cats/link.png", "symbolic link"),
    ({"cats/a.png": png(), "cats/bomb.png": b"\0" * (30 * 1024 * 1024)}, None, "zip bomb"),
])
def test_malicious_zips_are_refused(entries, symlink, match):
    with pytest.raises(datasets.ZipError, match=match):
        datasets.read_zip(_zip(entries, symlink))


def test_oversize_and_non_zips_are_refused():
    data = _zip({"cats/a.png": png(), "dogs/b.png": png()})
    with pytest.raises(datasets.ZipError, match="limit"):
        datasets.read_zip(data, max_bytes=len(data) - 1)
    with pytest.raises(datasets.ZipError, match="not a zip"):
        datasets.read_zip(png())
    with pytest.raises(datasets.ZipError, match="No images"):
        datasets.read_zip(_zip({"readme.txt": b"hi"}))


def test_200_photos_fit_in_50_mb():
    img = datasets.downscale(Image.new("RGB", (4032, 3024)))
    assert 200 * img.width * img.height * 3 <= 50e6


def test_zip_over_the_session_pixel_budget_is_refused_with_the_limit():
    """A student's data is bounded in the server's memory: 20×16 RGB images are 960 bytes each."""
    data = _zip({f"{c}/{i}.png": png(size=(20, 16)) for c in ("cats", "dogs") for i in range(5)})
    assert len(datasets.read_zip(data, max_pixels=10 * 960).samples) == 10
    with pytest.raises(datasets.ZipError, match="Use fewer images per class"):
        datasets.read_zip(data, max_pixels=9 * 960)


def test_one_class_names_the_class_and_says_how_to_add_one():
    one = datasets.from_classes({"cats": [Image.new("RGB", (4, 4))] * 3})
    with pytest.raises(ValueError, match="only “cats”.*another folder of images in the zip"):
        datasets.validate(one, 0.25)
