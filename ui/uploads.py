"""Uploads take no more memory than their decoded images.

Streamlit keeps every uploaded file's raw bytes in memory for as long as the session lives (a
student who adds 200 phone photos to a class would hold about 1 GB there), even after the page has
decoded them into small images. `release` drops them as soon as they are decoded; the page keeps
only what `explorer.images` / `explorer.training.datasets` made of them. (Streamlit's own chat input does the
same through the same call.)
"""

from __future__ import annotations

from collections.abc import Iterable

from streamlit.runtime.scriptrunner import get_script_run_ctx


def release(uploads: Iterable) -> None:
    """Forget the raw bytes of decoded `UploadedFile`s (the widget shows them until it is reset)."""
    ctx = get_script_run_ctx()
    manager = getattr(ctx, "uploaded_file_mgr", None)
    if manager is None or not hasattr(manager, "remove_file"):
        return
    for upload in uploads:
        manager.remove_file(ctx.session_id, upload.file_id)
