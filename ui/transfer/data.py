"""Data section of the Transfer-learning page: demo sets, per-class collection, or a zip of folders.

Uploaded images are decoded by `explorer.training.datasets.load_upload` (through `explorer.images`) and
kept in the session downscaled to `STORE_SIDE` px. A file that is not an image is listed and
skipped; everything else stays.
"""

from __future__ import annotations

from itertools import count

import pandas as pd
import streamlit as st
from PIL import Image

from explorer import images
from explorer.training import datasets
from ui.safe_text import md
from ui.uploads import release

SOURCES = ("Demo: shapes", "Demo: digits", "Your classes", "Zip of folders")
MAX_FILES_MB = 25  # per uploaded photo
MAX_ZIP_MB = datasets.MAX_ZIP_BYTES // (1024 * 1024)
THUMBS = 24  # thumbnails shown per class
_ids = count(1)


@st.cache_resource(show_spinner="Generating the demo shapes…", max_entries=4)
def _shapes(per_class: int) -> datasets.DataSet:
    return datasets.demo_shapes(per_class)


@st.cache_resource(show_spinner="Loading scikit-learn's digits…", max_entries=4)
def _digits(per_class: int) -> datasets.DataSet:
    return datasets.digits(per_class)


def _classes() -> list[dict]:
    """The session's own classes: [{"id", "name", "images": [PIL], "seen": set of upload ids}]."""
    if "tl_classes" not in st.session_state:
        st.session_state["tl_classes"] = [_new_class("class 1"), _new_class("class 2")]
    return st.session_state["tl_classes"]


def _new_class(name: str) -> dict:
    return {"id": next(_ids), "name": name, "images": [], "seen": set()}


def _class_bytes(classes: list[dict]) -> int:
    """Pixel bytes of the images in the session's own classes."""
    return datasets.DataSet([(img, 0) for c in classes for img in c["images"]], []).nbytes()


def _zip_bytes() -> int:
    """Pixel bytes of the session's zip data set (0 without one)."""
    held = st.session_state.get("tl_zip")
    return held[1].nbytes() if held else 0


def _add_files(cls: dict, files: list, errors: list[str], classes: list[dict]) -> None:
    """Decode new uploads into `cls` (at `datasets.STORE_SIDE` px) within the session's pixel budget."""
    held = _class_bytes(classes) + _zip_bytes()  # one budget for the classes and the zip
    full = 0
    for f in files:
        if f.file_id in cls["seen"]:
            continue
        cls["seen"].add(f.file_id)
        if held >= datasets.MAX_SESSION_PIXEL_BYTES:
            full += 1
            continue
        try:
            img = datasets.load_upload(f.getvalue())
        except images.ImageError as exc:
            errors.append(f"{md(f.name)}: {md(exc, None)}")
            continue
        cls["images"].append(img)
        held += img.width * img.height * len(img.getbands())
    release(files)  # the decoded images stay, the raw files go
    if full:
        errors.append(f"{full} image{'s' * (full > 1)}: your classes already hold "
                      f"{datasets.MAX_SESSION_PIXEL_BYTES / 2**20:.0f} MB of pixels, the most one student's data may "
                      "take on this server. Remove some images (or a class) to add others.")


def _class_editor(cls: dict, classes: list[dict]) -> None:
    cid = cls["id"]
    with st.container(border=True):
        left, mid, right = st.columns([3, 1, 1], vertical_alignment="bottom")
        cls["name"] = left.text_input("Class name", value=cls["name"], key=f"tl_cname_{cid}", max_chars=40)
        count_slot = mid.empty()  # filled once this run's uploads are added
        if right.button("Remove", key=f"tl_crm_{cid}", icon=":material/delete:", help="Remove this class and its images"):
            classes.remove(cls)
            st.rerun()
        up, cam = st.columns(2)
        errors: list[str] = []
        files = up.file_uploader("Add images", accept_multiple_files=True, key=f"tl_up_{cid}",
                                 max_upload_size=MAX_FILES_MB, help="JPG, PNG, WebP, BMP, GIF or TIFF; select many at once.")
        if files:
            _add_files(cls, files, errors, classes)
        if cam.toggle("Webcam", key=f"tl_camon_{cid}"):
            shot = cam.camera_input("Take a photo for this class", key=f"tl_cam_{cid}")
            if shot is not None:
                _add_files(cls, [shot], errors, classes)
        count_slot.caption(f"{len(cls['images'])} images")
        for message in errors:
            st.warning(f"Skipped {message}", icon=":material/broken_image:")
        shown = cls["images"][-THUMBS:]
        offset = len(cls["images"]) - len(shown)
        cols = st.columns(8)
        for i, img in enumerate(shown):
            with cols[i % 8]:
                st.image(img, width=72)
                if st.button("", key=f"tl_del_{cid}_{offset + i}_{id(img)}", icon=":material/close:",
                             help="Delete this image"):
                    cls["images"].remove(img)
                    st.rerun()
        if offset:
            st.caption(f"… and {offset} older images (showing the latest {THUMBS}).")


def _collection() -> datasets.DataSet:
    classes = _classes()
    st.caption("Teachable-Machine style: one box per class. Upload photos or take them with the webcam.")
    for cls in list(classes):
        _class_editor(cls, classes)
    if st.button("Add a class", key="tl_cadd", icon=":material/add:"):
        classes.append(_new_class(f"class {len(classes) + 1}"))
        st.rerun()
    return datasets.from_classes([(c["name"], c["images"]) for c in classes])


def _zip() -> datasets.DataSet | None:
    upload = st.file_uploader("A zip of class folders (cats/1.jpg, dogs/2.jpg, …)", type=["zip"], key="tl_zipup",
                              max_upload_size=MAX_ZIP_MB, help=f"Up to {MAX_ZIP_MB} MB. One folder per class.")
    if upload is not None and st.session_state.get("tl_zip_id") != upload.file_id:
        st.session_state["tl_zip_id"] = upload.file_id
        try:
            room = datasets.MAX_SESSION_PIXEL_BYTES - _class_bytes(_classes())  # the new zip replaces the old
            st.session_state["tl_zip"] = (upload.name, datasets.read_zip(upload.getvalue(), max_pixels=room))
            st.session_state.pop("tl_zip_err", None)
        except ValueError as exc:
            st.session_state["tl_zip_err"] = f"{md(upload.name)}: {md(exc, None)}"
        release([upload])
    if st.session_state.get("tl_zip_err"):
        st.error(st.session_state["tl_zip_err"], icon=":material/folder_zip:")
    held = st.session_state.get("tl_zip")
    if held is None:
        st.info("No zip loaded yet.")
        return None
    name, data = held
    n_images, n_classes = len(data.samples), len(data.classes)
    st.caption(f"Using “{md(name)}”: {n_images} image{'s' * (n_images != 1)} in {n_classes} "
               f"class{'es' * (n_classes != 1)}.")
    if data.skipped:
        with st.expander(f"{len(data.skipped)} file{'s' * (len(data.skipped) != 1)} skipped"):
            st.dataframe(pd.DataFrame(data.skipped, columns=["file", "reason"]), hide_index=True)
    return data


def data_section() -> tuple[datasets.DataSet | None, str]:
    """Draw the data choice and return (DataSet or None, short description of the source)."""
    source = st.segmented_control("Data", SOURCES, default=SOURCES[0], key="tl_src", required=True,
                                  bind="query-params") or SOURCES[0]  # an empty address value (?key=) leaves even a required control empty
    if source == "Demo: shapes":
        n = st.slider("Images per shape", 10, 100, 40, step=10, key="tl_nshape", bind="query-params")
        st.caption("Generated on the fly (`explorer.training.datasets.demo_shapes`): circles, squares and triangles in "
                   "random colours, sizes, positions and rotations on random gradient backgrounds, seeded.")
        return _shapes(n), f"shapes ×{n}"
    if source == "Demo: digits":
        n = st.slider("Images per digit", 20, 180, 180, step=20, key="tl_ndig", bind="query-params")
        st.caption("scikit-learn's real handwritten 8×8 digits, upscaled to 32×32. LeNet-5 from scratch is the "
                   "lecture's network for them.")
        return _digits(n), f"digits ×{n}"
    if source == "Your classes":
        try:
            return _collection(), "your classes"
        except ValueError as exc:
            st.error(md(exc, None))
            return None, "your classes"
    return _zip(), "zip"


def preview_images(data: datasets.DataSet, n: int = 4) -> list[Image.Image]:
    """Up to `n` images, one per class first, for the augmentation preview."""
    firsts: dict[int, Image.Image] = {}
    for img, label in data.samples:
        firsts.setdefault(label, img)
    picked = list(firsts.values())[:n]
    return picked + [img for img, _ in data.samples if all(img is not p for p in picked)][: n - len(picked)]
