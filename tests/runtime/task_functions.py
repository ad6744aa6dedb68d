"""Small real functions that tests run as Dask tasks through `explorer.runtime.tasks.submit`.

They follow the calling convention of every heavy task (receptive fields, attributions):
keyword arguments `progress(fraction, message)` and `cancel` (with `is_set()`), checked once
per item. The workers import this module by name (PYTHONPATH is the repository).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

from PIL import Image

from explorer.models import store, zoo


def top_classes(model_name: str, images: list[Image.Image], *, progress: Callable[[float, str], None],
                cancel, delay_s: float = 0.0) -> list[str]:
    """The top-1 class of each image under zoo model `model_name` (loaded once per worker).

    Raises:
        ValueError: an image is too small to classify (a message for the student).
    """
    models = store.shared()
    loaded, lock = models.get(model_name), models.lock(model_name)
    out = []
    for i, image in enumerate(images):
        if cancel.is_set():
            break
        if min(image.size) < 8:
            raise ValueError(f"Image {i + 1} is {image.width}×{image.height} pixels: too small to classify.")
        with lock:  # the pattern for hook-based work on the shared model
            out.append(zoo.predict(loaded, image, k=1)[0][0])
        progress((i + 1) / len(images), f"image {i + 1} of {len(images)}")
        time.sleep(delay_s)
    return out


def divide(a: float, b: float, *, progress, cancel) -> float:
    """a / b: with b == 0, an unexpected error (not a ValueError)."""
    progress(0.5, "dividing")
    return a / b


class Interrupted(Exception):
    """How a function may end early on `cancel` (as `receptive_field.Cancelled` does)."""


def count_until_stopped(*, progress, cancel, limit: int = 10_000) -> int:
    """Count until cancelled, then raise `Interrupted` with how far it got."""
    for i in range(limit):
        if cancel.is_set():
            raise Interrupted(f"Stopped after {i} steps.")
        progress(i / limit, f"step {i}")
        time.sleep(0.01)
    return limit


def own_priority(*, progress, cancel) -> int:
    """The niceness of the thread that runs this task."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
