"""The convolution-arithmetic page's model and figures: presets, torch oracle, formulas, payload."""

from dataclasses import replace

import numpy as np
import plotly.io as pio
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from explorer.convolution import arithmetic as ca
from explorer.convolution import worked_example as L
from explorer.convolution import figures as figs


def _preset(fragment: str) -> L.Lab:
    (name,) = [n for n in L.PRESETS if fragment in n]
    return L.compute(L.preset(name))


def test_lecture_presets_give_the_lecture_numbers():
    np.testing.assert_array_equal(_preset("Lecture example").out[0], [[12, 12, 17], [10, 17, 19], [9, 6, 14]])
    np.testing.assert_array_equal(_preset("binary").out[0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    np.testing.assert_array_equal(_preset("max pooling").out[0], [[6, 8], [3, 4]])  # cs231n's pooling figure
    assert _preset("stride 2 → 3×3").out.shape[1:] == (3, 3)
    assert _preset("'Same'").out.shape[1:] == (7, 7)
    assert _preset("Dilated").out.shape[1:] == (3, 3)
    assert _preset("Transposed").out.shape[1:] == (5, 5)
    lab = _preset("32×32")
    assert lab.out.shape[1:] == (28, 28)
    assert L.chain(lab.s, lab.padding, 32)[:3] == [32, 28, 24]
    sizes = {"no padding, no strides": 2, "arbitrary padding": 6, "half padding": 5, "full padding": 7,
             "no padding, strides": 2, "padding, strides": 3, "padding, strides (odd)": 3}
    for frag, o in sizes.items():
        (name,) = [n for n in L.PRESETS if n.endswith(": " + frag)]
        assert L.compute(L.preset(name)).out.shape[1:] == (o, o), name


def _torch_out(lab: L.Lab) -> np.ndarray:
    s, p, x = lab.s, lab.padding, torch.tensor(lab.x)[None]
    if s.op == L.MAX:
        return F.max_pool2d(x, s.k, s.stride, p, s.dilation)[0].numpy()
    if s.op == L.AVG:
        return F.avg_pool2d(x, s.k, s.stride, p)[0].numpy()
    w, b = torch.tensor(lab.kernels), torch.tensor(lab.bias)
    if s.op == L.TCONV:
        return F.conv_transpose2d(x, w.transpose(0, 1), b, s.stride, p, s.out_pad, 1, s.dilation)[0].numpy()
    return F.conv2d(x, w, b, s.stride, "same" if s.pad_mode == "same" else p, s.dilation)[0].numpy()


def _random_settings(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield L.Settings(h=int(rng.integers(1, 12)), w=int(rng.integers(1, 12)), k=int(rng.integers(1, 6)),
                         stride=int(rng.integers(1, 5)), pad=int(rng.integers(0, 5)), dilation=int(rng.integers(1, 4)),
                         op=L.OPERATIONS[int(rng.integers(0, 4))], out_pad=int(rng.integers(0, 3)),
                         cin=int(rng.integers(1, 4)), cout=int(rng.integers(1, 5)), bias="random",
                         pad_mode=("custom", "valid", "same")[int(rng.integers(0, 3))], seed=int(rng.integers(0, 99)),
                         filt=int(rng.integers(1, 5)))


def test_compute_matches_torch_and_partials_add_up():
    checked = 0
    for s in _random_settings(150):
        try:
            lab = L.compute(s)
        except ValueError:
            continue
        np.testing.assert_allclose(lab.out, _torch_out(lab), atol=1e-9, err_msg=str(s))
        if not lab.pooling:
            np.testing.assert_allclose(lab.partials.sum(axis=1) + lab.bias[:, None, None], lab.out, atol=1e-9)
        checked += 1
    assert checked > 40


def test_params_macs_and_code_agree_with_torch():
    for s in [L.Settings(h=16, w=16, cin=3, cout=4, pad=1), L.Settings(h=7, w=5, k=5, stride=2, cin=2, cout=3),
              L.Settings(h=3, w=4, k=3, stride=2, pad=1, out_pad=1, op=L.TCONV, cin=3, cout=2),
              L.Settings(h=8, w=8, k=3, pad_mode="same", dilation=2, cin=2, cout=2),
              L.Settings(h=6, w=6, k=2, stride=2, op=L.MAX, cin=2), L.Settings(h=6, w=6, k=3, pad=1, op=L.AVG)]:
        lab = L.compute(s)
        module = eval(L.torch_code(lab), {"torch": torch})
        x = torch.tensor(lab.x, dtype=torch.float32)[None]
        with FlopCounterMode(display=False) as counter:
            y = module(x)
        assert tuple(y.shape[1:]) == lab.out.shape, L.torch_code(lab)
        assert sum(p.numel() for p in module.parameters()) == L.params(s)
        assert counter.get_total_flops() // 2 == L.macs(lab), L.torch_code(lab)


def test_impossible_settings_raise_one_sentence():
    bad = [L.Settings(h=3, w=3, k=5), L.Settings(op=L.AVG, dilation=2), L.Settings(op=L.MAX, k=3, pad=2),
           L.Settings(pad_mode="same", stride=2), L.Settings(pad_mode="same", op=L.TCONV), L.Settings(k=4, pad_mode="same"),
           L.Settings(op=L.TCONV, h=1, w=1, k=1, pad=1), L.Settings(op=L.TCONV, stride=2, out_pad=2),
           L.Settings(k=5, w_mode="sharpen"), L.Settings(x_mode="typed", x_text="1 2 x")]
    for s in bad:
        with pytest.raises(ValueError) as err:
            L.compute(s)
        msg = str(err.value)
        assert msg.endswith(".") and msg.count(". ") == 0 and len(msg) < 220, msg


def test_typed_values_roundtrip_and_fill_missing_with_zeros():
    a = np.array([[[3, -1.5], [0, 2]], [[1, 1], [1, 1]]])
    assert L.format_grids(a) == "3 -1.5 / 0 2 | 1 1 / 1 1"
    np.testing.assert_array_equal(L.parse_grids(L.format_grids(a), 2, 2, 2), a)
    np.testing.assert_array_equal(L.parse_grids("1 2 / 3", 1, 2, 3), [[[1, 2, 0], [3, 0, 0]]])


def test_values_are_stable_when_the_size_changes():
    a, b = L.input_values(L.Settings(h=5, w=5)), L.input_values(L.Settings(h=8, w=9))
    np.testing.assert_array_equal(a, b[:, :5, :5])
    assert not np.array_equal(a, L.input_values(L.Settings(seed=1)))
    np.testing.assert_allclose(L.kernel_values(L.Settings(w_mode="box blur")).sum(), 1.0)


@pytest.mark.parametrize("s", [L.Settings(h=6, w=7, cin=3, cout=2, bias="random", filt=2, stride=2, pad=1),
                               L.Settings(op=L.TCONV, stride=2, pad=1, out_pad=1, cin=2),
                               L.Settings(op=L.AVG, h=6, w=6, k=3, pad=1, cin=2, filt=2),
                               L.Settings(k=3, dilation=2, h=7, w=7)])
def test_animation_texts_equal_cell_computation(s):
    lab = L.compute(s)
    texts = figs.computation_texts(lab, lab.steps)
    f = lab.s.filt - 1
    for st, t in zip(lab.steps, texts):
        body = t.split(": ", 1)[1].removeprefix("<br>").replace(" +<br>   ", " + ").replace("<br>", "\n")
        if lab.pooling:
            want = ca.cell_computation(lab.grid[f:f + 1], lab.window_kernels[f][:1], 0.0, st, lab.s.op)
        else:
            want = ca.cell_computation(lab.grid, lab.window_kernels[f], float(lab.bias[f]), st)
        assert body == want


def test_animation_frames_step_through_every_output_cell():
    lab = _preset("Lecture example")
    fig = figs.sliding_window_figure(lab)
    frames = fig.raw_frames
    assert [fr["name"] for fr in frames] == [str(i) for i in range(9)]
    assert "3·0 + 3·1 + 2·2 + 0·2 + 0·2 + 1·0 + 3·0 + 1·1 + 2·2 + 0 = 12" in frames[0]["data"][4]["text"][0].replace(" +<br>   ", " + ")
    step_menu = frames[4]["layout"]["updatemenus"][2]["buttons"]
    assert [b["args"][0] for b in step_menu] == [["3"], ["5"]]
    spec = fig.to_dict()
    assert len(spec["frames"]) == 9 and spec["layout"]["sliders"][0]["steps"][8]["value"] == "8"
    assert pio.from_json(pio.to_json(fig, validate=False), skip_invalid=False)  # a valid plotly figure


def test_payload_of_the_bench_setting_is_below_2_mb_and_large_settings_are_capped():
    lab = L.compute(L.Settings(h=16, w=16, cin=3, cout=4, pad=1))
    fig = figs.sliding_window_figure(lab)
    assert len(fig.raw_frames) == 256
    assert len(pio.to_json(fig, validate=False)) < 2_000_000
    big = L.compute(L.preset([n for n in L.PRESETS if "32×32" in n][0]))
    fig = figs.sliding_window_figure(big)
    assert 0 < len(fig.raw_frames) < 784
    assert len(pio.to_json(fig, validate=False)) < 2_000_000


def test_multichannel_figure_has_a_panel_per_slice_partial_sum_and_filter():
    lab = L.compute(L.Settings(cin=3, cout=4))
    data = figs.multichannel_figure(lab).to_dict()["data"]
    assert len(data) == 3 + 3 + (3 + 1) + 4
    np.testing.assert_allclose(data[9]["z"], lab.out[0])
    assert len(figs.multichannel_figure(L.compute(L.Settings(op=L.MAX, k=2, stride=2, cin=2))).to_dict()["data"]) == 4


@pytest.mark.parametrize("s", [L.Settings(h=32, w=32, k=5, pad=2, cin=3, cout=10),  # lecture 3: 760
                               L.Settings(h=28, w=20, k=3, stride=2, cin=2, cout=64),
                               L.Settings(h=9, w=9, k=7, dilation=1, pad_mode="same", cin=1, cout=4096),
                               L.Settings(h=5, w=6, k=3, stride=2, pad=1, op=L.TCONV, cin=3, cout=300)])
def test_any_number_of_filters_is_counted_like_a_meta_device_module(s):
    """N filters of K×K×C for N far beyond the 4 maps drawn: shape, parameters and MACs of the whole layer."""
    from explorer.architecture.profiling import profile

    lab = L.compute(s)
    assert len(lab.out) == min(s.cout, L.MAX_DRAWN) and lab.out_shape[0] == s.cout
    with torch.device("meta"):
        module = eval(L.torch_code(lab), {"torch": torch})
    prof = profile(module, (s.cin, s.h, s.w))
    assert prof.output_shape[1:] == lab.out_shape
    assert prof.params == L.params(s) == s.cout * (s.k * s.k * s.cin + 1)
    assert prof.macs == L.macs(lab)
    assert f"= {L.tex_int(L.params(s))}" in L.params_formula(s)


def test_the_lecture_preset_of_ten_filters_has_760_parameters():
    lab = _preset("ten 5×5×3")
    assert lab.out_shape == (10, 32, 32) and L.params(lab.s) == 760
    assert r"10\cdot76 = 760" in L.params_formula(lab.s)
    with pytest.raises(ValueError, match="Output channels .* 1 to 4,096"):
        L.compute(replace(lab.s, cout=5000))


LARGEST = [L.Settings(h=32, w=32, k=7, dilation=3, pad=3, cin=3, cout=4),
           L.Settings(op=L.TCONV, h=32, w=32, k=7, stride=4, dilation=3, out_pad=3, cin=3, cout=4),
           L.Settings(op=L.MAX, h=32, w=32, k=2, stride=2, cin=3)]


@pytest.mark.parametrize("s", LARGEST)
def test_largest_settings_print_no_cell_numbers_and_keep_frames_small(s):
    """Thousands of SVG texts took Chromium tens of seconds to draw: small cells show values on hover instead."""
    lab = L.compute(s)
    spec = figs.sliding_window_figure(lab).to_dict()
    assert not figs.numbers_shown(lab)
    drawn_texts = sum(len(t.get("text", [])) for t in spec["data"] if t.get("mode") == "text")
    assert drawn_texts <= 1  # only the written-out computation
    grids = [t for t in spec["data"] if t["type"] == "heatmap"]
    assert all(np.shape(t["text"]) == np.shape(t["z"]) for t in grids)  # every value is on hover
    assert len(spec["layout"]["sliders"][0]["steps"]) <= figs.MAX_SLIDER_STEPS
    frames = pio.to_json({"frames": spec["frames"]}, validate=False)
    assert len(frames) <= 1.25 * figs.FRAME_BYTES


def test_small_settings_print_every_number_and_weight():
    lab = _preset("Lecture example")
    spec = figs.sliding_window_figure(lab).to_dict()
    assert figs.numbers_shown(lab)
    values = next(t for t in spec["data"] if t.get("mode") == "text")
    assert len(values["text"]) == 25  # every input cell
    assert len(spec["frames"][0]["data"][1]["x"]) == 9  # the kernel's weights under the window


@pytest.mark.parametrize("s", [L.Settings(op=L.TCONV, h=3, w=3, stride=2, pad=1, cin=2, cout=2), LARGEST[1]])
def test_titles_fit_between_the_buttons_and_the_grids(s):
    """The transposed view's two-line titles sit inside the plot area, under the play buttons, at any cell size."""
    lab = L.compute(s)
    layout = figs.sliding_window_figure(lab).to_dict()["layout"]
    top = -layout["yaxis"]["range"][1]  # cells above row 0 inside the plot area
    title_px = (top - 0.6) * figs.cell_pixels(lab)
    assert title_px >= 2 * 17
