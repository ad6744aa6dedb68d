"""explorer.convolution.arithmetic against PyTorch (the oracle), over a grid of every parameter combination."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.convolution import arithmetic as ca

LECTURE_X = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], float)
LECTURE_W = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], float)


def _torch_raises(fn) -> bool:
    try:
        fn()
    except RuntimeError:
        return True
    return False


def _torch_size(fn) -> int | None:
    """Output height from torch, or None when torch raises."""
    try:
        return fn().shape[2]
    except RuntimeError:
        return None


def _ours(fn):
    try:
        return fn()
    except ValueError:
        return None


GRID = list(itertools.product(range(1, 7), range(1, 8), range(1, 5), range(0, 5), range(1, 4)))  # n k s p d


@pytest.mark.parametrize("n", range(1, 7))
def test_output_size_matches_torch_conv2d_over_grid(n):
    for _, k, s, p, d in (g for g in GRID if g[0] == n):
        ours = _ours(lambda: ca.output_size(n, k, s, p, d))
        x, w = torch.zeros(1, 1, n, n + 1), torch.zeros(1, 1, k, k)
        assert ours == _torch_size(lambda: F.conv2d(x, w, stride=s, padding=p, dilation=d)), (n, k, s, p, d)


@pytest.mark.parametrize("n", range(1, 6))
def test_output_size_matches_torch_conv_transpose2d_over_grid(n):
    for (_, k, s, p, d), op in itertools.product((g for g in GRID if g[0] == n), range(0, 4)):
        ours = _ours(lambda: ca.output_size(n, k, s, p, d, transposed=True, output_padding=op))
        x, w = torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k)
        size = _torch_size(lambda: F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, dilation=d))
        # torch returns an empty tensor when the output size is exactly 0: that is impossible too.
        assert ours == (size or None), (n, k, s, p, d, op)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_output_size_matches_torch_over_grid(mode):
    for n, k, s, p, d in GRID:
        if mode == "avg" and d > 1:
            assert _ours(lambda: ca.pool_output_size(n, k, s, p, d, "avg")) is None  # torch has no such argument
            continue
        ours = _ours(lambda: ca.pool_output_size(n, k, s, p, d, mode))
        x = torch.zeros(1, 1, n, n)
        call = ((lambda: F.max_pool2d(x, k, s, p, dilation=d)) if mode == "max"
                else (lambda: F.avg_pool2d(x, k, s, p)))
        assert ours == _torch_size(call), (n, k, s, p, d)


def test_invalid_arguments_raise_value_error_like_torch():
    x, w = torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3)
    for kwargs in (dict(stride=0), dict(padding=-1), dict(dilation=0)):
        assert _torch_raises(lambda: F.conv2d(x, w, **kwargs))
        with pytest.raises(ValueError):
            ca.output_size(5, 3, **kwargs)
    with pytest.raises(ValueError):
        ca.output_size(5, 0)


def _params(seed=0, n=40):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield (int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 10)), int(rng.integers(1, 10)),
               int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(0, 3)), int(rng.integers(1, 3)), rng)


def test_conv2d_matches_torch_on_random_inputs():
    checked = 0
    for cin, cout, h, w_, k, s, p, d, rng in _params(1, 80):
        x, w, b = rng.normal(size=(cin, h, w_)), rng.normal(size=(cout, cin, k, k)), rng.normal(size=cout)
        try:
            ours = ca.conv2d(x, w, b, s, p, d)
        except ValueError:
            continue
        ref = F.conv2d(torch.tensor(x)[None], torch.tensor(w), torch.tensor(b), s, p, d)[0].numpy()
        np.testing.assert_allclose(ours, ref, atol=1e-10)
        checked += 1
    assert checked > 30


def test_conv_transpose2d_matches_torch_on_random_inputs():
    checked = 0
    for cin, cout, h, w_, k, s, p, d, rng in _params(2, 80):
        op = int(rng.integers(0, max(s, d)))
        x, w, b = rng.normal(size=(cin, h, w_)), rng.normal(size=(cin, cout, k, k)), rng.normal(size=cout)
        try:
            ours = ca.conv_transpose2d(x, w, b, s, p, op, d)
        except ValueError:
            continue
        ref = F.conv_transpose2d(torch.tensor(x)[None], torch.tensor(w), torch.tensor(b), s, p, op, 1, d)[0].numpy()
        np.testing.assert_allclose(ours, ref, atol=1e-10)
        checked += 1
    assert checked > 30


def test_pooling_matches_torch_on_random_inputs():
    checked = 0
    for cin, _, h, w_, k, s, p, d, rng in _params(3, 80):
        x = rng.normal(size=(cin, h, w_))
        t = torch.tensor(x)[None]
        try:
            ours = ca.max_pool2d(x, k, s, p, d)
        except ValueError:
            pass
        else:
            np.testing.assert_allclose(ours, F.max_pool2d(t, k, s, p, d)[0].numpy())
            checked += 1
        try:
            ours = ca.avg_pool2d(x, k, s, p)
        except ValueError:
            continue
        np.testing.assert_allclose(ours, F.avg_pool2d(t, k, s, p)[0].numpy(), atol=1e-12)
        checked += 1
    assert checked > 30
    x = np.arange(16.0).reshape(1, 4, 4)
    np.testing.assert_allclose(ca.max_pool2d(x, 2), F.max_pool2d(torch.tensor(x)[None], 2)[0].numpy())


def test_numeric_functions_leave_inputs_unchanged():
    x, w = LECTURE_X[None].copy(), LECTURE_W[None, None].copy()
    ca.conv2d(x, w, padding=1)
    ca.conv_transpose2d(x, w, stride=2)
    ca.max_pool2d(x, 2)
    np.testing.assert_array_equal(x[0], LECTURE_X)
    np.testing.assert_array_equal(w[0, 0], LECTURE_W)


def test_lecture_example():
    out = ca.conv2d(LECTURE_X[None], LECTURE_W[None, None])
    np.testing.assert_array_equal(out[0], [[12, 12, 17], [10, 17, 19], [9, 6, 14]])
    ref = F.conv2d(torch.tensor(LECTURE_X)[None, None], torch.tensor(LECTURE_W)[None, None])[0, 0].numpy()
    np.testing.assert_array_equal(out[0], ref)
    steps = ca.window_positions(5, 5, 3)
    assert [(s.out_row, s.out_col) for s in steps][:4] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    text = ca.cell_computation(LECTURE_X[None], LECTURE_W[None], 0.0, steps[0])
    assert text == "3·0 + 3·1 + 2·2 + 0·2 + 0·2 + 1·0 + 3·0 + 1·1 + 2·2 + 0 = 12"


def test_window_positions_agree_with_conv2d():
    rng = np.random.default_rng(4)
    x, w = rng.integers(-3, 4, size=(2, 7, 6)).astype(float), rng.integers(-2, 3, size=(1, 2, 3, 3)).astype(float)
    out = ca.conv2d(x, w, None, 2, 1, 2)
    grid = ca.pad(x, 1)
    for st in ca.window_positions(7, 6, 3, 2, 1, 2):
        win = grid[:, list(st.rows)][:, :, list(st.cols)]
        assert (win * w[0]).sum() == out[0, st.out_row, st.out_col]


def test_transposed_window_positions_agree_with_torch():
    rng = np.random.default_rng(5)
    x, w = rng.integers(-3, 4, size=(2, 3, 4)).astype(float), rng.integers(-2, 3, size=(2, 1, 3, 3)).astype(float)
    ref = F.conv_transpose2d(torch.tensor(x)[None], torch.tensor(w), stride=2, padding=1, output_padding=1)[0].numpy()
    grid, q = ca.stretch(x, 3, 2, 1, 1)
    wk = ca.equivalent_kernel(w)[0]
    steps = ca.transposed_window_positions(3, 4, 3, 2, 1, 1)
    assert len(steps) == ref.shape[1] * ref.shape[2]
    for st in steps:
        win = grid[:, list(st.rows)][:, :, list(st.cols)]
        assert (win * wk).sum() == ref[0, st.out_row, st.out_col]


def test_uncovered_cells_in_non_divisible_case():
    assert ca.leftover(6, 3, 2) == 1
    assert ca.uncovered(6, 3, 2) == [5]  # the last input row/column is never under the window
    assert ca.uncovered(6, 3, 2, 1) == [7]  # with padding 1 only a padding cell is missed
    assert ca.uncovered(7, 3, 2) == []
    assert ca.uncovered(7, 3, 2, 0, 2) == [1, 3, 5]  # dilation 2 with stride 2 skips every odd cell


def test_same_padding_keeps_size():
    for k, d in [(1, 1), (3, 1), (5, 1), (3, 2), (7, 3)]:
        assert ca.output_size(9, k, 1, ca.same_padding(k, d), d) == 9
        assert F.conv2d(torch.zeros(1, 1, 9, 9), torch.zeros(1, 1, k, k), padding="same", dilation=d).shape[2] == 9
    with pytest.raises(ValueError):
        ca.same_padding(3, 1, stride=2)
    with pytest.raises(ValueError):
        ca.same_padding(4)
