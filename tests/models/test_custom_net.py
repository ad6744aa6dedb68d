"""Build-your-own network: shapes against PyTorch, shape errors, URL text and exported code."""

import pytest
import torch

from explorer.models import custom_net as cn
from explorer.architecture.profiling import profile

RESNETISH = [{"layer": "Conv2d", "size": 8, "kernel": 3, "stride": 1, "padding": 1}, {"layer": "BatchNorm"},
             {"layer": "LeakyReLU"}, {"layer": "Residual", "size": 16, "stride": 2}, {"layer": "AvgPool2d", "kernel": 2,
             "stride": 2, "padding": 0}, {"layer": "GlobalAvgPool"}, {"layer": "BatchNorm"},
             {"layer": "Dropout", "p": 0.3}, {"layer": "Linear", "size": 5}, {"layer": "Sigmoid"}]


@pytest.mark.parametrize("spec,shape", [(cn.LECTURE_CNN, (1, 28, 28)), (RESNETISH, (3, 33, 31))])
def test_shapes_match_a_real_forward(spec, shape):
    torch.manual_seed(0)
    model = cn.build(spec, shape).eval()
    x = torch.randn(2, *shape)
    outs = []
    for layer in model:
        x = layer(x)
        outs.append(tuple(x.shape[1:]))
    assert cn.shapes(spec, shape) == outs


def test_lecture_cnn_profile():
    model = cn.build(cn.LECTURE_CNN, (1, 28, 28))
    prof = profile(model.eval(), (1, 28, 28))
    assert prof.params == 431_754 == sum(p.numel() for p in model.parameters())
    assert prof.output_shape == (1, 10)


@pytest.mark.parametrize("spec,shape,message", [
    ([{"layer": "Linear", "size": 3}], (3, 5, 5), r"Layer 1 \(Linear → 3\) needs a flat input \(features,\) but gets \(3, 5, 5\)"),
    ([{"layer": "Conv2d", "size": 4, "kernel": 7}], (3, 5, 5), r"Layer 1 \(Conv2d 4, 7×7.*7×7 pixels.*\(3, 5, 5\)"),
    ([{"layer": "Flatten"}, {"layer": "MaxPool2d", "kernel": 2}], (2, 4, 4), r"Layer 2 \(MaxPool2d.*\(C, H, W\) but gets \(32,\)"),
    (cn.LECTURE_CNN, (1, 10, 10), r"Layer 6 \(MaxPool2d 2×2, stride 2\) needs at least 2×2 pixels.*\(64, 1, 1\)"),
    ([{"layer": "Dropout", "p": 1.5}], (3,), "probability"),
    ([{"layer": "Conv2d", "size": 0}], (3, 8, 8), "size must be at least 1"),
    ([{"layer": "Spline"}], (3, 8, 8), "unknown type"),
    ([], (3, 8, 8), "no layers"),
    ([{"layer": "ReLU"}], (3, 0, 8), "positive"),
])
def test_shape_errors_name_the_layer_and_both_shapes(spec, shape, message):
    with pytest.raises(cn.LayerShapeError, match=message):
        cn.shapes(spec, shape)


def test_lecture_cnn_too_small_input_names_the_failing_layer():
    with pytest.raises(cn.LayerShapeError) as err:
        cn.shapes(cn.LECTURE_CNN, (1, 8, 8))
    assert "Layer 4 (Conv2d 64, 3×3, stride 1)" in str(err.value) and "(32, 2, 2)" in str(err.value)


def test_text_round_trip_and_bad_text():
    for spec in (cn.LECTURE_CNN, RESNETISH):
        text = cn.to_text(spec)
        assert all(ch.isalnum() or ch in "-_." for ch in text)
        assert cn.shapes(cn.from_text(text), (3, 32, 32)) == cn.shapes(spec, (3, 32, 32)) or spec is cn.LECTURE_CNN
        assert cn.to_text(cn.from_text(text)) == text
    with pytest.raises(cn.LayerShapeError, match="not readable"):
        cn.from_text("Conv2d-3_Relu")


@pytest.mark.parametrize("spec,shape", [(cn.LECTURE_CNN, (1, 28, 28)), (RESNETISH, (3, 32, 32))])
def test_exported_code_rebuilds_the_same_network(spec, shape):
    namespace: dict = {}
    exec(cn.to_code(spec, shape), namespace)  # noqa: S102 - our own generated source
    exported = namespace["model"].eval()
    ours = cn.build(spec, shape).eval()
    assert sum(p.numel() for p in exported.parameters()) == sum(p.numel() for p in ours.parameters())
    exported.load_state_dict(ours.state_dict())
    x = torch.randn(2, *shape)
    torch.testing.assert_close(exported(x), ours(x))


def test_build_returns_a_trainable_module():
    model = cn.build(RESNETISH, (3, 16, 16))
    assert model.training and all(p.device.type == "cpu" for p in model.parameters())
    loss = model(torch.randn(4, 3, 16, 16)).sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
