"""The only path from bytes to an image: safe decoding and a gallery of real photos.

Every page and notebook turns uploaded bytes into a picture with `load_image`. It
refuses anything that is not an image with an `ImageError` whose message tells a
student what to do, checks the pixel count *before* decoding (a 40 kB PNG can
declare 50,000 x 50,000 pixels), applies the EXIF orientation a phone recorded,
and returns a plain RGB image no larger than `WORKING_SIZE` on its longest side.
"""

from __future__ import annotations

import importlib.util
import io
import warnings
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

#: Largest image accepted, in pixels (width x height), checked from the header
#: before any pixel is decoded. 50 MP covers every phone and DSLR photo while
#: staying well under Pillow's own decompression-bomb limits (89 MP warns, 179 MP raises).
MAX_PIXELS = 50_000_000

#: Longest side, in pixels, of the image handed to the pages. Every model in the zoo
#: works at 224-600 px, so 1024 keeps detail for overlays and costs at most 3 MB.
WORKING_SIZE = 1024

#: What the message suggests instead.
ACCEPTED = "Upload a JPG, PNG, WebP, BMP, GIF or TIFF."

# Signatures of common files that are not images Pillow can read: (magic, what it is).
_NOT_IMAGES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg audio or video file"),
    (b"\x1a\x45\xdf\xa3", "a WebM or MKV video"),
)


class ImageError(ValueError):
    """Raised for input that cannot become an image; the message is meant for a student."""


def _describe_non_image(head: bytes) -> str | None:
    """Name the kind of file from its first bytes, or None when it is unrecognised."""
    for magic, what in _NOT_IMAGES:
        if head.startswith(magic):
            return what
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return "a HEIC photo (the iPhone format), which this app cannot read"
        if brand == b"avif":
            return "an AVIF image, which this app cannot read"
        return "an MP4 or MOV video"
    stripped = head.lstrip().lower()
    if stripped.startswith(b"<svg") or (stripped.startswith(b"<?xml") and b"<svg" in head):
        return "an SVG drawing (vector graphics)"
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "a web page (HTML)"
    return None


def _read_bytes(data: bytes | BinaryIO) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if hasattr(data, "read"):
        if hasattr(data, "seek"):
            data.seek(0)
        return data.read()
    raise ImageError(f"Expected the bytes of an image file, got {type(data).__name__}. {ACCEPTED}")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited onto white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or float grayscale: stretch its actual range to 0..255.
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(scaled.round().astype(np.uint8), mode="L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def load_image(data: bytes | BinaryIO, max_side: int = WORKING_SIZE) -> Image.Image:
    """Decode uploaded bytes into an RGB image of at most `max_side` pixels on its longest side.

    Args:
        data: the file's bytes, or a binary file object (a Streamlit upload works as it is).
        max_side: longest side of the result in pixels; larger images are downscaled
            with their aspect ratio kept. Smaller images are returned at their own size.

    Returns:
        A PIL image in mode "RGB": EXIF orientation applied, first frame of an animation,
        alpha composited onto white, 16-bit / CMYK / palette / grayscale converted.

    Raises:
        ImageError: the bytes are empty, not an image, truncated, or over `MAX_PIXELS`.
    """
    raw = _read_bytes(data)
    if not raw:
        raise ImageError(f"This file is empty (0 bytes). {ACCEPTED}")
    what = _describe_non_image(raw[:64])
    if what is not None:
        raise ImageError(f"This file is {what}, not an image. {ACCEPTED}")
    with warnings.catch_warnings():
        # Pillow only *warns* between 89 and 179 MP; make that an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        too_big = (f"more than the {MAX_PIXELS / 1e6:.0f} megapixels allowed. "
                   "Resize it or upload a smaller photo.")
        try:
            img = Image.open(io.BytesIO(raw))  # reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"This image declares a gigantic size, {too_big}") from None
        except Exception:  # noqa: BLE001 - any parser failure means "not an image we can read"
            raise ImageError(
                "This file is not an image that can be read (it may be damaged or in an "
                f"unsupported format). {ACCEPTED}"
            ) from None
        width, height = img.size
        if width <= 0 or height <= 0:
            raise ImageError(f"This image has no pixels ({width}x{height}). {ACCEPTED}")
        if width * height > MAX_PIXELS:
            raise ImageError(
                f"This image is {width:,} x {height:,} pixels ({width * height / 1e6:.0f} megapixels), {too_big}"
            )
        try:
            img.seek(0)  # first frame of an animated GIF / WebP / multi-page TIFF
            if img.format == "JPEG":
                img.draft("RGB", (max_side, max_side))  # decode JPEGs at reduced size: faster, less memory
            img.load()
            img = ImageOps.exif_transpose(img)
            img = _to_rgb(img)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as exc:
            raise ImageError(
                f"This image is damaged or cut off and cannot be decoded ({exc.__class__.__name__}). "
                "Try saving it again, or upload another photo."
            ) from None
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


#: Gallery photos: display name -> (package, file inside it). Real photos that ship inside the
#: scikit-image and scikit-learn wheels, read as files so that neither package (nor SciPy) is imported.
GALLERY: dict[str, tuple[str, str]] = {
    "chelsea (cat)": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "astronaut": ("skimage", "data/astronaut.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "china (temple)": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
    "motorcycle": ("skimage", "data/motorcycle_left.png"),
    "horse (silhouette)": ("skimage", "data/horse.png"),
    "cameraman": ("skimage", "data/camera.png"),
    "coins": ("skimage", "data/coins.png"),
    "retina (fundus photo)": ("skimage", "data/retina.jpg"),
    "hubble deep field": ("skimage", "data/hubble_deep_field.jpg"),
}


#: The gallery photo every page opens on.
OPENING = next(iter(GALLERY))


def _package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{package} is not installed; it ships the gallery photos.")
    return Path(next(iter(spec.submodule_search_locations))) / relative


@lru_cache(maxsize=1)
def _gallery() -> dict[str, Image.Image]:
    return {name: load_image(_package_file(*where).read_bytes()) for name, where in GALLERY.items()}


def sample_images() -> dict[str, Image.Image]:
    """Real photos shipped in scikit-image and scikit-learn, keyed by a display name.

    Returns:
        A new dict of RGB PIL images (copies, so callers may draw on them), in gallery order.
        The first entry is the default picture of every page.
    """
    return {name: img.copy() for name, img in _gallery().items()}


def sample_image(name: str) -> Image.Image:
    """One gallery photo by name; raises ValueError listing the valid names."""
    gallery = _gallery()
    if name not in gallery:
        raise ValueError(f"No sample image called {name!r}. Choose one of: {', '.join(gallery)}.")
    return gallery[name].copy()
