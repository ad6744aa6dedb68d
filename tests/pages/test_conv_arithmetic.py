"""AppTest: the convolution-arithmetic page restores its settings from the URL and reacts to them."""

import json

from tests.pages.apptest import open_page

PAGE = "app_pages/conv_arithmetic.py"


def _size(at) -> str:
    return at.metric[0].value


def _anim_spec(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_query_string_restores_settings():
    at = open_page(PAGE, ca_op="transposed convolution", ca_h="3", ca_w="4", ca_k="3", ca_stride="2", ca_pad="1",
                   ca_opad="1", ca_cin="2", ca_cout="3", ca_x="ones", ca_bias="random", ca_seed="7")
    assert not at.exception
    assert at.selectbox(key="ca_op").value == "transposed convolution"
    assert (at.slider(key="ca_h").value, at.slider(key="ca_w").value, at.slider(key="ca_stride").value) == (3, 4, 2)
    assert at.slider(key="ca_opad").value == 1 and at.number_input(key="ca_cout").value == 3
    assert at.radio(key="ca_x").value == "ones" and at.number_input(key="ca_seed").value == 7
    assert _size(at) == "3 × 6 × 8"  # (3−1)·2 − 2 + 2 + 1 + 1 = 6, (4−1)·2 − 2 + 2 + 1 + 1 = 8
    assert any("ConvTranspose2d(in_channels=2, out_channels=3" in c.value for c in at.code)


def test_lecture_example_from_typed_values_in_the_url():
    at = open_page(PAGE, ca_x="typed", ca_w_mode="typed", ca_xv="3 3 2 1 0 / 0 0 1 3 1 / 3 1 2 2 3 / 2 0 0 2 2 / 2 0 0 0 1",
                   ca_wv="0 1 2 / 2 2 0 / 0 1 2")
    assert not at.exception
    spec = _anim_spec(at)
    outputs = next(t for t in spec["data"] if t.get("hovertemplate", "").startswith("output"))  # the output grid
    assert outputs["text"] == [["12", "12", "17"], ["10", "17", "19"], ["9", "6", "14"]]
    printed = [t for t in spec["data"] if t.get("mode") == "text" and t.get("textfont", {}).get("color") == "#0b4d0b"]
    assert printed[0]["text"] == ["12", "12", "17", "10", "17", "19", "9", "6", "14"]  # written in the cells
    assert len(spec["frames"]) == 9


def test_changing_the_stride_changes_the_output_size_shown():
    at = open_page(PAGE, ca_h="7", ca_w="7")
    assert _size(at) == "1 × 5 × 5"
    at.slider(key="ca_stride").set_value(2).run()
    assert _size(at) == "1 × 3 × 3"
    assert not at.exception


def test_impossible_setting_shows_one_sentence_and_keeps_other_settings():
    at = open_page(PAGE, ca_h="4", ca_w="4", ca_stride="3")
    at.slider(key="ca_k").set_value(6).run()
    assert not at.exception
    assert len(at.error) == 1 and "kernel spans 6 cells" in at.error[0].value
    assert at.slider(key="ca_stride").value == 3 and at.slider(key="ca_h").value == 4
    at.slider(key="ca_k").set_value(3).run()
    assert not at.error and _size(at) == "1 × 1 × 1"
    at.selectbox(key="ca_op").set_value("average pooling").run()
    at.slider(key="ca_dil").set_value(2).run()
    assert "no dilation" in at.error[0].value


def test_preset_sets_every_setting_and_non_divisible_case_is_named():
    at = open_page(PAGE)
    at.selectbox(key="ca_preset").set_value("conv_arithmetic: padding, strides (odd)").run()
    assert not at.exception
    assert (at.slider(key="ca_h").value, at.slider(key="ca_stride").value, at.slider(key="ca_pad").value) == (6, 2, 1)
    assert any("not divisible by S = 2" in w.value for w in at.warning)


def test_reshuffle_changes_the_seed_and_typed_mode_starts_from_the_shown_values():
    at = open_page(PAGE)
    at.button(key="ca_shuffle").click().run()
    assert at.number_input(key="ca_seed").value == 1
    at.radio(key="ca_x").set_value("typed").run()
    assert not at.exception
    assert at.text_input(key="ca_xv").value.count("/") == 4  # the 5×5 random values, now editable


def test_ten_filters_are_counted_and_an_out_of_range_count_is_refused_with_a_message():
    at = open_page(PAGE, ca_h="32", ca_w="32", ca_k="5", ca_pad="2", ca_cin="3", ca_cout="10")
    assert not at.exception
    assert _size(at) == "10 × 32 × 32" and at.metric[1].value == "760"
    assert any(r"10\cdot76 = 760" in m.value for m in at.get("latex"))
    assert any("draw the first 4" in c.value for c in at.caption)
    at.number_input(key="ca_cout").set_value(5000).run()
    assert not at.exception
    assert len(at.error) == 1 and "1 to 4,096 (it is 5,000)" in at.error[0].value
    assert at.slider(key="ca_k").value == 5  # the other settings are kept


def test_padding_and_output_padding_appear_only_where_they_apply():
    at = open_page(PAGE, ca_op="transposed convolution", ca_stride="2", ca_opad="1", ca_pad="1")
    assert at.slider(key="ca_opad").value == 1 and at.slider(key="ca_pad").value == 1
    at.selectbox(key="ca_op").set_value("convolution").run()
    assert not [s for s in at.slider if s.key == "ca_opad"]  # not a live setting: not in the sidebar, not in the URL
    at.radio(key="ca_padmode").set_value("valid").run()
    assert not [s for s in at.slider if s.key == "ca_pad"]
    assert not at.exception and _size(at) == "1 × 2 × 2"  # 5×5, 3×3 kernel, stride 2, no padding


def test_guess_first_hides_the_numbers_until_reveal_then_says_how_close_each_guess_was():
    """Issue 21, guess first: ?guess=1 hides the output size, parameters and multiply-adds (and the formulas)."""
    import torch  # noqa: PLC0415
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415

    conv = torch.nn.Conv2d(1, 1, 3)  # this setting: 7×7 input, one 3×3 filter, stride 1, no padding
    counter = FlopCounterMode(display=False)
    with counter:
        out = conv(torch.zeros(1, 1, 7, 7))
    params, macs = sum(p.numel() for p in conv.parameters()), counter.get_total_flops() // 2
    assert (tuple(out.shape[2:]), params, macs) == ((5, 5), 10, 225)

    at = open_page(PAGE, ca_h="7", ca_w="7", guess="1")
    assert not at.exception
    assert not at.metric and not at.latex  # hidden: no big numbers, no formulas
    assert at.toggle(key="guess_toggle").value is True
    at.button(key="guess_ca_reveal").click().run()  # nothing typed yet
    assert not at.metric and any("Type a guess for every answer first" in w.value for w in at.warning)
    for i, value in enumerate((6, 5, params, 200)):
        at.number_input(key=f"guess_ca_{i}").set_value(value)
    at.button(key="guess_ca_reveal").click().run()
    assert not at.exception
    assert _size(at) == "1 × 5 × 5" and at.metric[1].value == f"{params:,}" and at.metric[2].value == f"{macs:,}"
    text = " ".join(m.value for m in at.markdown)
    assert "you said 6, it is 5: 1 too high (20% off)" in text
    assert "you said 5, it is 5: exactly right" in text
    assert "you said 200, it is 225: 25 too low (11% off)" in text
    assert at.latex  # the formulas are back
    at.slider(key="ca_stride").set_value(2).run()  # new answers: hidden again
    assert not at.metric and at.button(key="guess_ca_reveal")
    at.toggle(key="guess_toggle").set_value(False).run()
    assert "guess" not in at.query_params and _size(at) == "1 × 3 × 3"


def test_an_unusable_guess_value_in_the_address_says_so_and_shows_the_answers():
    at = open_page(PAGE, ca_h="7", ca_w="7", guess="[x](https://example.com)")
    assert not at.exception and _size(at) == "1 × 5 × 5"
    assert any("guess-first mode stays off" in w.value and "\\[x\\]" in w.value for w in at.warning)


def test_presenter_mode_folds_the_intro_puts_the_geometry_beside_the_picture_and_enlarges_its_text():
    """Issue 21, presenter mode on /conv: ?present=1."""
    from explorer.figures.large_text import MIN_PX, smallest_font  # noqa: PLC0415
    from explorer.figures.raw import RawFigure  # noqa: PLC0415

    normal = open_page(PAGE, ca_h="7", ca_w="7")
    assert "ca_h" in [s.key for s in normal.sidebar.slider]
    assert smallest_font(RawFigure(_anim_spec(normal))) < MIN_PX
    at = open_page(PAGE, ca_h="7", ca_w="7", present="1")
    assert not at.exception
    assert at.expander[0].label == "About this page" and "Watch the window slide" in at.expander[0].markdown[0].value
    assert not any("Watch the window slide" in m.value for m in at.main.markdown if m not in at.expander[0].markdown)
    assert "ca_h" not in [s.key for s in at.sidebar.slider]  # beside the picture instead
    assert at.slider(key="ca_h").value == 7 and "ca_seed" in [n.key for n in at.sidebar.number_input]
    assert all(smallest_font(RawFigure(json.loads(c.proto.spec))) >= MIN_PX for c in at.get("plotly_chart"))
    assert _size(at) == "1 × 5 × 5"
    at.slider(key="ca_stride").set_value(2).run()  # the settings beside the picture work
    assert _size(at) == "1 × 3 × 3" and not at.exception


def test_an_unusable_present_value_says_so_and_shows_the_normal_page():
    at = open_page(PAGE, present="yes please")
    assert not at.exception and "ca_h" in [s.key for s in at.sidebar.slider]
    assert any("presenter mode stays off" in w.value for w in at.warning)
