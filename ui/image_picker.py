"""The one image picker every page reuses: gallery photo, upload, or webcam shot.

The chosen picture is kept in the session at working size (`explorer.images.WORKING_SIZE`),
so it follows the student from page to page. A file that is not a usable image shows the
`ImageError` message and leaves the previous picture in place.

A picture one page hands to another (`use_image`: a training run's 96×96 validation image sent to the
Attributions page) belongs to that page only: on any other page the picker drops it and returns to the source
the student had chosen before, so it never turns up on the zoo page captioned with a run.
"""

from __future__ import annotations

import streamlit as st
from PIL import Image

from explorer import images
from ui import address
from ui.safe_text import md
from ui.uploads import release

#: Largest upload the picker accepts, in megabytes (photos from phones are 2-12 MB).
MAX_UPLOAD_MB = 25
SOURCES = ("Gallery", "Upload", "Webcam")
_STATE = "picker_image"  # (caption, PIL image) of the student's own photo, or absent
_HANDOFF = "picker_handoff"  # {"page", "caption", "image", "source"}: a picture handed to one page, or absent


def _decode_into_session(upload, caption: str) -> None:
    """Decode an UploadedFile with explorer.images; on failure show why and keep the old picture."""
    seen = st.session_state.get("picker_seen")
    if seen == upload.file_id:
        return
    st.session_state["picker_seen"] = upload.file_id
    try:
        st.session_state[_STATE] = (caption, images.load_image(upload.getvalue()))
        st.session_state.pop(_HANDOFF, None)  # the student's own upload replaces a handed-over picture
    except images.ImageError as exc:
        st.session_state["picker_error"] = f"{md(upload.name)}: {md(exc, None)}"
    release([upload])  # the session keeps the decoded photo (at most 1024 px), not the file


def image_picker() -> tuple[Image.Image, str]:
    """Draw the picker and return (RGB image at working size, caption naming its source)."""
    names = list(images.GALLERY)
    handoff = st.session_state.get(_HANDOFF)
    if handoff is not None and handoff["page"] != address.current_page():  # it belongs to another page
        st.session_state.pop(_HANDOFF)
        st.session_state["img_src"] = handoff["source"]  # before the widget is drawn: the student's own choice
        handoff = None
    with st.container(border=True):
        left, right = st.columns([3, 1], vertical_alignment="center")
        with left:
            source = st.segmented_control(
                "Image", SOURCES, default="Gallery", key="img_src", required=True,
                bind="query-params", help="Use a real photo from the gallery, or your own.",
            ) or "Gallery"  # an empty address value (?key=) leaves even a required control empty
            if source == "Gallery":
                choice = st.selectbox("Gallery photo", names, key="img", bind="query-params")
            elif source == "Upload":
                upload = st.file_uploader(
                    "Upload a photo", type=None, key="img_upload", max_upload_size=MAX_UPLOAD_MB,
                    help=f"JPG, PNG, WebP, BMP, GIF or TIFF, up to {MAX_UPLOAD_MB} MB.",
                )
                if upload is not None:
                    _decode_into_session(upload, f"your upload “{upload.name}”")
            else:
                shot = st.camera_input("Take a photo", key="img_camera")
                if shot is not None:
                    _decode_into_session(shot, "your webcam photo")
            error = st.session_state.pop("picker_error", None)
            if error:
                st.error(error, icon=":material/broken_image:")
        own = (handoff["caption"], handoff["image"]) if handoff is not None else st.session_state.get(_STATE)
        if source != "Gallery" and own is not None:
            caption, image = own
        else:
            if source != "Gallery":
                st.caption("No photo of yours yet: showing the gallery photo meanwhile.")
            choice = st.session_state.get("img") or images.OPENING
            choice = choice if choice in images.GALLERY else images.OPENING
            caption, image = f"gallery photo “{choice}”", images.sample_image(choice)
        with right:
            thumb = image.copy()
            thumb.thumbnail((320, 320))  # sent to the browser at 2× its drawn size, not at working size
            st.image(thumb, caption=f"{md(caption)} · {image.width}×{image.height} px", width=160)
    return image, caption


def use_image(image: Image.Image, caption: str, page: str) -> None:
    """Show `image` on the page whose url path is `page` ("attributions"), under "Upload", as if uploaded there.

    Call it before the picker is drawn in the run (another page hands a picture over this way). The student's own
    upload stays: on any other page the picker drops the handed picture and shows what it showed before.
    """
    previous = st.session_state.get(_HANDOFF, {}).get("source") or st.session_state.get("img_src") or "Gallery"
    st.session_state[_HANDOFF] = {"page": page, "caption": caption, "image": image.convert("RGB"),
                                  "source": previous}
    st.session_state["img_src"] = "Upload"
