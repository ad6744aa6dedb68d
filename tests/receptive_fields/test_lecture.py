"""Lecture 3's toy stack and "two 3×3 vs one 5×5": the formula, the graph analysis and back-propagation agree."""

import itertools

import numpy as np
import pytest

from explorer.receptive_fields import lecture as rf_lecture


@pytest.mark.parametrize("layers,kernel,stride,dilation",
                         [c for c in itertools.product([1, 2, 3, 4], [1, 3, 5], [1, 2, 3], [1, 2]) if
                          rf_lecture.formula(*c) <= rf_lecture.MAX_DRAWN])
def test_toy_stack_formula_graph_and_gradient_agree(layers, kernel, stride, dilation):
    sizes = rf_lecture.growth(layers, kernel, stride, dilation)
    assert sizes == [rf_lecture.formula(l, kernel, stride, dilation) for l in range(1, layers + 1)]
    counts = rf_lecture.path_counts(layers, kernel, stride, dilation)
    for size, paths in zip(sizes, counts):
        rows, cols = np.nonzero(paths.any(axis=1))[0], np.nonzero(paths.any(axis=0))[0]
        assert rows[-1] - rows[0] + 1 == size and cols[-1] - cols[0] + 1 == size
    if stride == 1 and dilation == 1:
        assert sizes[-1] == 1 + layers * (kernel - 1)  # the lecture's formula


def test_the_lectures_numbers_and_paths():
    assert rf_lecture.formula_text(3, 3) == "1 + L·(K − 1) = 1 + 3·(3 − 1) = 7"
    assert rf_lecture.formula_text(3, 3, 2, 2).endswith("= 1 + (3 − 1)·2·(1 + 2 + 2^2) = 29")
    two = rf_lecture.path_counts(2, 3)[-1]
    assert two.tolist()[2] == [3, 6, 9, 6, 3] and two.sum() == 81  # 9 × 9 paths through two 3×3 layers
    with pytest.raises(ValueError, match="too large to draw"):
        rf_lecture.path_counts(6, 7, 3, 3)
    with pytest.raises(ValueError, match="at least 1"):
        rf_lecture.toy_stack(0, 3)


@pytest.mark.parametrize("channels,small", [(64, 2), (16, 3)])
def test_small_kernels_against_one_large(channels, small):
    stack, single = rf_lecture.small_vs_large(channels, small)
    k = 2 * small + 1
    assert stack.field == single.field == k
    assert stack.params == small * (9 * channels ** 2 + channels)
    assert single.params == k * k * channels ** 2 + channels
    assert (stack.nonlinearities, single.nonlinearities) == (small, 1)
    assert stack.macs == 56 * 56 * small * 9 * channels ** 2 and single.macs == 56 * 56 * k * k * channels ** 2
