"""Classic image kernels (lecture 3's table) applied with torch conv2d, then ReLU and 2×2 pooling.

Lecture 3 walks through the steps of one convolutional layer on a picture:
input image -> convolved feature map -> ReLU ("rectified feature map") -> pooling (max, sum
or average over 2×2 windows with stride 2). `lecture_steps` computes each of them, and
`apply_kernel` is the convolution on its own.

Like every deep-learning framework, `torch.nn.functional.conv2d` computes a cross-correlation
(the kernel is not flipped). For the symmetric kernels of the table that is the same as a
convolution; for Sobel it decides the sign: Sobel x is positive where the image gets brighter
to the right.

Pixel values are floats in [0, 1] (8-bit value / 255), so an output of 1.0 is "full white".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

#: Lecture 3's kernel table ("Operation / Filter / Convolved image"), plus Sobel x and y.
KERNELS: dict[str, np.ndarray] = {
    "Identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32),
    "Edge detection (diagonal)": np.array([[1, 0, -1], [0, 0, 0], [-1, 0, 1]], dtype=np.float32),
    "Edge detection (4-neighbour)": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32),
    "Edge detection (8-neighbour)": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float32),
    "Sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float32),
    "Box blur": np.ones((3, 3), dtype=np.float32) / 9,
    "Gaussian blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 16,
    "Sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32),
    "Sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float32),
}

#: How each kernel is written in the lecture (or the usual way, for Sobel), for display.
KERNEL_TEXT: dict[str, str] = {
    "Identity": "0 0 0; 0 1 0; 0 0 0",
    "Edge detection (diagonal)": "1 0 -1; 0 0 0; -1 0 1",
    "Edge detection (4-neighbour)": "0 1 0; 1 -4 1; 0 1 0",
    "Edge detection (8-neighbour)": "-1 -1 -1; -1 8 -1; -1 -1 -1",
    "Sharpen": "0 -1 0; -1 5 -1; 0 -1 0",
    "Box blur": "1/9 1/9 1/9; 1/9 1/9 1/9; 1/9 1/9 1/9",
    "Gaussian blur": "1/16 2/16 1/16; 2/16 4/16 2/16; 1/16 2/16 1/16",
    "Sobel x": "-1 0 1; -2 0 2; -1 0 1",
    "Sobel y": "-1 -2 -1; 0 0 0; 1 2 1",
}

MODES = ("grayscale", "per channel")
PADDINGS = ("valid", "same (zeros)")
POOLINGS = ("max", "sum", "average")


#: Largest kernel weight accepted (in absolute value), and the longest text read: a kernel typed in the page (and
#: kept in its address) is 3 or 5 rows of short numbers.
MAX_WEIGHT = 1000.0
MAX_TEXT = 1000


def _value(token: str) -> float:
    """One typed value: an integer, a decimal or a fraction ("1/9"). Raises ValueError with a sentence."""
    parts = token.split("/")
    try:
        if len(parts) > 2:
            raise ValueError
        numbers = [float(p) for p in parts]  # "nan", "inf" and "1e400" (inf) read as floats: refused below
    except ValueError:
        raise ValueError("Kernel values must be numbers such as 2, -0.5 or 1/9, rows separated by ';'.") from None
    if not all(math.isfinite(n) and abs(n) <= MAX_WEIGHT for n in numbers):
        raise ValueError(f"Kernel values must be finite numbers from -{MAX_WEIGHT:,.0f} to {MAX_WEIGHT:,.0f}.")
    if len(numbers) == 2 and numbers[1] == 0:
        raise ValueError("Kernel values must be numbers such as 2, -0.5 or 1/9, and a fraction cannot divide by zero.")
    value = numbers[0] / numbers[1] if len(numbers) == 2 else numbers[0]
    if abs(value) > MAX_WEIGHT:
        raise ValueError(f"Kernel values must be finite numbers from -{MAX_WEIGHT:,.0f} to {MAX_WEIGHT:,.0f}.")
    return value


def parse_kernel(text: str) -> np.ndarray:
    """A square kernel from text: rows separated by ";" or new lines, values by spaces or commas.

    Values may be integers, decimals or fractions ("1/9"), finite and at most `MAX_WEIGHT` in absolute value
    (the text comes from the page's address too). Only 3×3 and 5×5 kernels are accepted.

    Returns:
        float32 [K, K] with K = 3 or 5.

    Raises:
        ValueError: one sentence saying what to fix.
    """
    if len(text) > MAX_TEXT:
        raise ValueError(f"A kernel is at most 5 rows of 5 numbers; this text has {len(text):,} characters.")
    rows = [r for r in re.split(r"[;\n]", text.strip()) if r.strip()]
    values = [[_value(v) for v in re.split(r"[,\s]+", r.strip()) if v] for r in rows]
    n = len(values)
    if n not in (3, 5) or any(len(r) != n for r in values):
        sizes = "×".join(str(len(r)) for r in values) or "nothing"
        raise ValueError(f"A kernel must be 3×3 or 5×5: 3 or 5 rows of as many numbers (got rows of {sizes}).")
    return np.array(values, dtype=np.float32)


def image_array(image: Image.Image | np.ndarray, mode: str = "grayscale") -> np.ndarray:
    """Pixels as float32 in [0, 1]: [H, W] for "grayscale" (ITU-R 601 luma, as PIL's "L"), [H, W, 3] otherwise."""
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; choose one of {MODES}.")
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("L" if mode == "grayscale" else "RGB"))
    array = np.asarray(image)
    array = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
    if mode == "grayscale" and array.ndim == 3:
        array = array @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if mode == "per channel" and array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return array


def apply_kernel(image: Image.Image | np.ndarray, kernel: np.ndarray, mode: str = "grayscale",
                 padding: str = "valid") -> np.ndarray:
    """Cross-correlate an image with a K×K kernel using `torch.nn.functional.conv2d`.

    Args:
        image: PIL image, or an array [H, W] / [H, W, 3]: floats in [0, 1] or uint8 0-255.
        kernel: float array [K, K].
        mode: "grayscale" (one channel) or "per channel" (the same kernel on R, G and B
            separately, as a depthwise convolution with groups=3: no summing over channels).
        padding: "valid" (output H - K + 1, as in the lecture) or "same (zeros)" (zero padding
            of K // 2, output H).

    Returns:
        float32 [H', W'] for grayscale, [H', W', 3] per channel. Values are not clipped.
    """
    if padding not in PADDINGS:
        raise ValueError(f"Unknown padding {padding!r}; choose one of {PADDINGS}.")
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"The kernel must be square, got shape {kernel.shape}.")
    array = image_array(image, mode)
    k = kernel.shape[0]
    if min(array.shape[:2]) < k:
        raise ValueError(f"The image ({array.shape[1]}×{array.shape[0]} px) is smaller than the {k}×{k} kernel.")
    x = torch.from_numpy(np.ascontiguousarray(array))
    x = x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None]
    channels = x.shape[1]
    weight = torch.from_numpy(kernel)[None, None].expand(channels, 1, k, k)
    pad = k // 2 if padding.startswith("same") else 0
    with torch.inference_mode():
        y = F.conv2d(x, weight, padding=pad, groups=channels)[0]
    return (y[0] if channels == 1 else y.permute(1, 2, 0)).numpy().copy()


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x), element-wise: the "rectified feature map"."""
    return np.maximum(x, 0, dtype=np.float32)


def pool(x: np.ndarray, how: str = "max", size: int = 2) -> np.ndarray:
    """size×size pooling with stride `size` (no padding; a last odd row or column is dropped).

    Args:
        x: [H, W] or [H, W, C].
        how: "max", "sum" or "average".

    Returns:
        [H // size, W // size] (or with C channels), float32.
    """
    if how not in POOLINGS:
        raise ValueError(f"Unknown pooling {how!r}; choose one of {POOLINGS}.")
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    t = t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None]
    if how == "max":
        y = F.max_pool2d(t, size)
    else:
        y = F.avg_pool2d(t, size) * (size * size if how == "sum" else 1)
    y = y[0]
    return (y[0] if y.shape[0] == 1 and x.ndim == 2 else y.permute(1, 2, 0)).numpy().copy()


def resize_for_kernels(image: Image.Image, side: int) -> Image.Image:
    """The image scaled so that its longer side is `side` px (pooling is easiest to see on small images)."""
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


@dataclass
class LectureSteps:
    """The lecture's steps for one kernel; every array is float32 [H, W] or [H, W, 3].

    Attributes:
        image: the input in [0, 1].
        convolved: the convolved feature map (not clipped: edge kernels give negative values).
        rectified: ReLU of it.
        pooled: 2×2 pooling of the rectified map with stride 2.
        pooling: "max", "sum" or "average".
    """

    image: np.ndarray
    convolved: np.ndarray
    rectified: np.ndarray
    pooled: np.ndarray
    pooling: str

    def sizes(self) -> dict[str, str]:
        """Step name -> "W×H" (×3 for colour), e.g. {"input": "256×192", "convolved": "254×190", ...}."""
        def size(a: np.ndarray) -> str:
            return f"{a.shape[1]}×{a.shape[0]}" + ("×3" if a.ndim == 3 else "")
        return {"input": size(self.image), "convolved": size(self.convolved),
                "rectified": size(self.rectified), f"{self.pooling} pooled": size(self.pooled)}


def lecture_steps(image: Image.Image, kernel: np.ndarray, mode: str = "grayscale", padding: str = "valid",
                  pooling: str = "max") -> LectureSteps:
    """Input -> convolved feature map -> ReLU -> 2×2 pooling, as in lecture 3."""
    array = image_array(image, mode)
    convolved = apply_kernel(array, kernel, mode, padding)
    rectified = relu(convolved)
    return LectureSteps(array, convolved, rectified, pool(rectified, pooling, 2), pooling)
