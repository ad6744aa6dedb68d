"""explorer.filters.kernels: equal to torch conv2d and to a plain loop; the lecture's kernels and examples give the lecture's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from explorer.filters import kernels


def _loop_correlate(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Valid cross-correlation with two Python loops: the definition, no library."""
    n = k.shape[0]
    out = np.zeros((x.shape[0] - n + 1, x.shape[1] - n + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + n, j:j + n] * k)
    return out


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).random((12, 17, 3)).astype(np.float32)


@pytest.mark.parametrize("name", list(kernels.KERNELS))
@pytest.mark.parametrize("padding", kernels.PADDINGS)
def test_each_kernel_equals_torch_conv2d_per_channel_and_on_grayscale(name, padding, rgb):
    k = kernels.KERNELS[name]
    pad = 1 if padding.startswith("same") else 0
    weight = torch.from_numpy(k)[None, None]
    per_channel = kernels.apply_kernel(rgb, k, "per channel", padding)
    for c in range(3):  # one plain conv2d per channel
        ref = F.conv2d(torch.from_numpy(rgb[..., c])[None, None], weight, padding=pad)[0, 0].numpy()
        np.testing.assert_allclose(per_channel[..., c], ref, rtol=1e-5, atol=1e-6)
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    ref = F.conv2d(torch.from_numpy(gray)[None, None], weight, padding=pad)[0, 0].numpy()
    np.testing.assert_allclose(kernels.apply_kernel(rgb, k, "grayscale", padding), ref, rtol=1e-5, atol=1e-6)
    if padding == "valid":
        np.testing.assert_allclose(kernels.apply_kernel(gray, k), _loop_correlate(gray, k), rtol=1e-5, atol=1e-6)


def test_lecture_2_convolution_example():
    """Lecture 2: the 5×5 input and 3×3 weights give [[12, 12, 17], [10, 17, 19], [9, 6, 14]]."""
    x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], np.float32)
    w = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], np.float32)
    np.testing.assert_array_equal(kernels.apply_kernel(x, w), [[12, 12, 17], [10, 17, 19], [9, 6, 14]])


def test_lecture_3_convolution_example():
    """Lecture 3: the binary image and the X-shaped filter; the first convolved value is 4."""
    x = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], np.float32)
    w = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)
    np.testing.assert_array_equal(kernels.apply_kernel(x, w), [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_lecture_kernels_on_hand_made_inputs():
    flat = np.full((6, 6), 0.4, np.float32)
    impulse = np.zeros((5, 5), np.float32)
    impulse[2, 2] = 1.0
    # Identity returns the image itself (its interior for "valid").
    np.testing.assert_array_equal(kernels.apply_kernel(impulse, kernels.KERNELS["Identity"], padding="same (zeros)"),
                                  impulse)
    # Blurs average: a flat image stays flat; an impulse spreads into the (flipped) kernel.
    for name in ("Box blur", "Gaussian blur", "Sharpen"):
        np.testing.assert_allclose(kernels.apply_kernel(flat, kernels.KERNELS[name]), 0.4, rtol=1e-6)
    np.testing.assert_allclose(kernels.apply_kernel(impulse, kernels.KERNELS["Gaussian blur"])[0:3, 0:3],
                               np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16, rtol=1e-6)
    # Edge detectors and Sobel sum to zero: nothing on a flat image.
    for name in ("Edge detection (diagonal)", "Edge detection (4-neighbour)", "Edge detection (8-neighbour)",
                 "Sobel x", "Sobel y"):
        assert kernels.KERNELS[name].sum() == 0
        np.testing.assert_allclose(kernels.apply_kernel(flat, kernels.KERNELS[name]), 0, atol=1e-6)
    # A bright dot: 8-neighbour edge gives 8 on it and -1 around it; sharpen 5 and -1 on its 4 neighbours.
    out = kernels.apply_kernel(impulse, kernels.KERNELS["Edge detection (8-neighbour)"], padding="same (zeros)")
    assert out[2, 2] == 8 and out[1, 1] == out[3, 2] == -1 and out[0, 0] == 0
    out = kernels.apply_kernel(impulse, kernels.KERNELS["Sharpen"], padding="same (zeros)")
    assert out[2, 2] == 5 and out[1, 2] == out[2, 3] == -1 and out[1, 1] == 0
    # A ramp getting brighter to the right: Sobel x sees +8 × step, Sobel y sees nothing.
    ramp = np.tile(np.arange(6, dtype=np.float32) * 0.1, (5, 1))
    np.testing.assert_allclose(kernels.apply_kernel(ramp, kernels.KERNELS["Sobel x"]), 0.8, rtol=1e-5)
    np.testing.assert_allclose(kernels.apply_kernel(ramp, kernels.KERNELS["Sobel y"]), 0, atol=1e-6)
    # A vertical step edge: the 4-neighbour Laplacian is -1 / +1 on both sides of it, 0 elsewhere.
    step = np.zeros((4, 6), np.float32)
    step[:, 3:] = 1
    np.testing.assert_allclose(kernels.apply_kernel(step, kernels.KERNELS["Edge detection (4-neighbour)"]),
                               [[0, 1, -1, 0]] * 2, atol=1e-6)


def test_relu_and_2x2_pooling_on_the_cs231n_example():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float32)
    np.testing.assert_array_equal(kernels.pool(x, "max"), [[6, 8], [3, 4]])
    np.testing.assert_array_equal(kernels.pool(x, "sum"), [[13, 21], [8, 8]])
    np.testing.assert_array_equal(kernels.pool(x, "average"), [[3.25, 5.25], [2, 2]])
    np.testing.assert_array_equal(kernels.relu(np.array([-2.0, 0.0, 3.0])), [0, 0, 3])
    # Odd sizes drop the last row/column, as torch does; colour maps pool each channel.
    odd = np.random.default_rng(1).random((5, 7, 3)).astype(np.float32)
    pooled = kernels.pool(odd, "max")
    assert pooled.shape == (2, 3, 3)
    assert pooled[1, 2, 1] == odd[2:4, 4:6, 1].max()


def test_lecture_steps_sizes_and_values():
    image = Image.fromarray((np.random.default_rng(2).random((170, 256, 3)) * 255).astype(np.uint8))
    steps = kernels.lecture_steps(image, kernels.KERNELS["Sobel x"], "grayscale", "valid", "average")
    assert steps.sizes() == {"input": "256×170", "convolved": "254×168", "rectified": "254×168",
                             "average pooled": "127×84"}
    assert steps.convolved.min() < 0 and steps.rectified.min() == 0
    np.testing.assert_array_equal(steps.rectified, np.maximum(steps.convolved, 0))
    np.testing.assert_allclose(steps.pooled, kernels.pool(steps.rectified, "average"))
    # Grayscale is PIL's own "L" conversion (ITU-R 601 luma), up to its integer rounding.
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255
    np.testing.assert_allclose(steps.image, gray, atol=1 / 255 + 1e-6)
    same = kernels.lecture_steps(image, kernels.KERNELS["Sharpen"], "per channel", "same (zeros)", "sum")
    assert same.sizes()["convolved"] == "256×170×3" and same.sizes()["sum pooled"] == "128×85×3"


def test_parse_kernel():
    np.testing.assert_allclose(kernels.parse_kernel("1/9 1/9 1/9; 1/9 1/9 1/9; 1/9 1/9 1/9"), kernels.KERNELS["Box blur"])
    for name, text in kernels.KERNEL_TEXT.items():
        np.testing.assert_allclose(kernels.parse_kernel(text), kernels.KERNELS[name], rtol=1e-6)
    assert kernels.parse_kernel("\n".join(["1, 0, 0, 0, -1"] * 5)).shape == (5, 5)
    with pytest.raises(ValueError, match="3×3 or 5×5"):
        kernels.parse_kernel("1 2; 3 4")
    with pytest.raises(ValueError, match="3×3 or 5×5"):
        kernels.parse_kernel("1 2 3; 4 5; 6 7 8")
    with pytest.raises(ValueError, match="numbers"):
        kernels.parse_kernel("a b c; 1 2 3; 4 5 6")
    with pytest.raises(ValueError, match="numbers"):
        kernels.parse_kernel("1/0 0 0; 0 0 0; 0 0 0")


def test_errors_a_student_can_trigger():
    with pytest.raises(ValueError, match="smaller than"):
        kernels.apply_kernel(np.zeros((2, 2), np.float32), kernels.KERNELS["Identity"])
    with pytest.raises(ValueError, match="padding"):
        kernels.apply_kernel(np.zeros((4, 4), np.float32), kernels.KERNELS["Identity"], padding="reflect")


@pytest.mark.parametrize("text", ["1e400 0 0; 0 0 0; 0 0 0", "nan 0 0; 0 0 0; 0 0 0", "-inf 1 1; 1 1 1; 1 1 1",
                                  "9" * 400 + " 0 0; 0 0 0; 0 0 0", "1/1e-300 0 0; 0 0 0; 0 0 0",
                                  "1001 0 0; 0 0 0; 0 0 0", "1e-99999999 0 0; 0 0 0; 0 1e99999999 0", "1 " * 2000])
def test_parse_kernel_refuses_non_finite_and_huge_values_in_one_sentence(text):
    """A kernel typed into the page (and kept in its address) is hostile input: one sentence, never another error."""
    with pytest.raises(ValueError) as caught:
        kernels.parse_kernel(text)
    message = str(caught.value)
    assert type(caught.value) is ValueError and message.count(". ") == 0 and message.endswith(".")
    assert text[:20] not in message  # nothing of the text is echoed into the page's markdown


def test_parse_kernel_keeps_tiny_values_and_fractions_exact_to_float32():
    k = kernels.parse_kernel("1e-30 0 0; 0 2/16 0; 0 0 -1000")
    assert k.dtype == np.float32 and k[1, 1] == np.float32(0.125) and k[2, 2] == -1000 and k[0, 0] == np.float32(1e-30)
