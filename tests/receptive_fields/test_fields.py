"""explorer.receptive_fields.fields against back-propagation (the oracle in tests/rf_oracle.py), published values, and
the lecture's formula.

Every zoo model is checked at a sample of its layers (bench/receptive_field.py checks every layer): the
non-zero support of the input gradient of one unit, in a network where nothing can cancel, must be exactly
the box `unit_box` gives, and fill it.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from explorer.models import custom_net
from explorer.receptive_fields import fields as rf
from explorer.receptive_fields import notes as rf_notes
from explorer.models.efficientnet_lite import SamePad2d
from tests.receptive_fields import rf_oracle as oracle
from explorer.models import layers
from explorer.models import registry

SAMPLED = 4  # layers per zoo model (spread over those whose field fits a ~240 px input)
MAX_FIELD = 200


def _meta(name: str) -> nn.Module:
    with torch.device("meta"):
        return registry.build(name)


def _assert_exact(model: nn.Module, layer: str, channels: int = 3, transparent: nn.Module | None = None) -> None:
    side, field, unit = oracle.fitting_input(model, layer)
    mask = oracle.support(transparent or oracle.transparent(model, cut_global=True), layer, side, unit, channels)
    box = rf.unit_box(field, *unit)
    assert oracle.bounding_box(mask) == box, f"{layer} at {side} px, unit {unit}"
    top, left, bottom, right = box
    assert mask[top:bottom + 1, left:right + 1].all(), f"{layer}: the field has holes"


@pytest.mark.parametrize("name", registry.list_models())
def test_fields_equal_the_gradient_support_for_every_zoo_model(name):
    model = _meta(name)
    fields = rf.receptive_fields(model, registry.info(name).input_size)
    candidates = [f for f in fields if max(f.size) <= MAX_FIELD and f.output_size != (1, 1)]
    picks = sorted({round(i * (len(candidates) - 1) / (SAMPLED - 1)) for i in range(SAMPLED)})
    cut = oracle.transparent(model, cut_global=True)
    whole = oracle.transparent(model) if any(f.global_context for f in fields) else None
    for i in picks:
        layer = candidates[i]
        _assert_exact(model, layer.name, registry.info(name).in_channels, cut)
        if layer.global_context:  # with the squeeze-and-excitation path: the whole image
            side, _, unit = oracle.fitting_input(model, layer.name)
            assert oracle.support(whole, layer.name, side, unit, registry.info(name).in_channels).all()


@pytest.mark.parametrize("name", registry.list_models())
def test_layers_follow_the_feature_maps_page_plus_pooling(name):
    fields = rf.receptive_fields(_meta(name), registry.info(name).input_size)
    stand_in = SimpleNamespace(name=name, labels=None, info=registry.info(name))  # what layer_table reads
    table = layers.layer_table(stand_in)
    assert [f.name for f in fields if f.kind != "pool"] == [layer.name for layer in table]
    assert {f.name: f.output_size for f in fields if f.kind != "pool"} == {l.name: l.shape[1:] for l in table}
    assert all(f.module_type.endswith("Pool2d") for f in fields if f.kind == "pool")


def test_published_end_points_where_torchvision_matches_the_paper():
    def field(name, layer):
        return rf.find(rf.receptive_fields(_meta(name), registry.info(name).input_size), layer)

    for name, (layer, px, _) in rf_notes.PUBLISHED.items():
        assert field(name, layer).size == (px, px), name
    assert field("alexnet", "features.12").jump == (32, 32)
    assert field("vgg16", "features.30").depth == 13
    assert field("vgg16", "features.28").size == (196, 196)  # conv5_3, before pool5
    assert field("googlenet", "inception5b").size == (379, 379)
    assert field("resnet50", "layer4").size == (427, 427)
    assert field("resnet50", "layer4").depth == 49  # 49 convolutions + 1 linear layer = ResNet-50


def test_paper_variants_explain_googlenet_and_resnet_v1():
    assert rf_notes.variant_field("resnet50", rf_notes.resnet_v1, 224).size == (483, 483)
    for name, px in rf_notes.RESNET_V1.items():
        assert rf_notes.variant_field(name, rf_notes.resnet_v1, 224).size == (px, px), name
    assert rf_notes.variant_field("googlenet", rf_notes.paper_googlenet, 224).size[0] > 379
    notes = " ".join(rf_notes.notes("resnet50", rf.receptive_fields(_meta("resnet50"), 224)))
    assert "427 px" in notes and "483 px" in notes


def test_lite0_same_padding_is_off_centre_and_depends_on_the_input_size():
    with pytest.raises(Exception):  # the reason the tracer keeps SamePad2d as a leaf
        torch.fx.symbolic_trace(_meta("efficientnet_lite0"))
    layer, shift, shift_odd = rf_notes.lite_offset("efficientnet_lite0", 224)
    assert (layer, shift, shift_odd) == ("features.8", 31, 0)
    stem = rf.find(rf.receptive_fields(_meta("efficientnet_lite0"), 224), "features.0.conv")
    assert rf.unit_box(stem, 0, 0) == (0, 0, 2, 2)  # padding after only: unit (0, 0) starts at pixel 0
    note = " ".join(rf_notes.notes("efficientnet_lite0", rf.receptive_fields(_meta("efficientnet_lite0"), 224)))
    assert "31 px" in note and "225 px" in note


def test_lite0_at_its_own_size_matches_the_gradient():
    model = _meta("efficientnet_lite0")
    cut = oracle.transparent(model)
    for layer in ("features.1", "features.2.1", "features.3"):
        side, field, unit = oracle.fitting_input(model, layer, preferred=224)
        assert side == 224
        assert oracle.bounding_box(oracle.support(cut, layer, side, unit)) == rf.unit_box(field, *unit)


def test_squeeze_excitation_and_global_pooling_give_global_context():
    fields = rf.receptive_fields(_meta("mobilenet_v3_small"), 224)
    flags = [f.global_context for f in fields]
    first = flags.index(True)
    assert not any(flags[:first]) and fields[first].name.startswith("features.1")
    assert rf.find(fields, "avgpool").global_context
    assert not any(f.global_context for f in rf.receptive_fields(_meta("efficientnet_lite0"), 224)[:-1])


# --- hand-built networks: every rule against the oracle --------------------------------------------------------

class Branches(nn.Module):
    """Non-square kernels in two branches (1×7 then 7×1, and 7×1 then 1×7) plus a 3×3: an Inception-style concat."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.a = nn.Sequential(nn.Conv2d(4, 4, (1, 7), padding=(0, 3)), nn.Conv2d(4, 4, (7, 1), padding=(3, 0)))
        self.b = nn.Conv2d(4, 4, (5, 1), padding=(2, 0))
        self.c = nn.Conv2d(4, 4, 3, padding=2, dilation=2)

    def forward(self, x):
        x = self.stem(x)
        return torch.cat([self.a(x), self.b(x), self.c(x)], dim=1)


class Geometry(nn.Module):
    """Asymmetric padding (module and functional), ceil-mode pooling, dilation, non-divisible adaptive pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d((0, 1, 2, 0))
        self.conv1 = nn.Conv2d(3, 4, 3, stride=2)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(4, 4, 3, dilation=3, padding=1)
        self.adapt = nn.AdaptiveAvgPool2d((5, 3))

    def forward(self, x):
        x = F.pad(self.conv1(self.pad(x)), (1, 0, 0, 1))
        return self.adapt(self.conv2(self.pool(x)))


class Decoder(nn.Module):
    """Stride-2 convolutions, then a transposed convolution and nearest upsampling: units whose fields alternate."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.ReLU(), nn.Conv2d(4, 4, 3, 2, 1))
        self.up = nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1)
        self.up2 = nn.Upsample(scale_factor=2)
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(self.up2(self.up(self.down(x))))


class TFStyleBlock(nn.Module):
    """A residual block with TF "same" padding on its strided 3×3 and a plain 1×1 stride-2 shortcut: misaligned."""

    def __init__(self) -> None:
        super().__init__()
        self.pad = SamePad2d(3, 2)
        self.conv = nn.Conv2d(3, 4, 3, 2)
        self.shortcut = nn.Conv2d(3, 4, 1, 2)

    def forward(self, x):
        return self.conv(self.pad(x)) + self.shortcut(x)


def _all_units_exact(model: nn.Module, layer: str, side: int, units: list[tuple[int, int]]) -> None:
    """Units whose box lies inside the image: support == box. Units at the edge: support within the clipped box
    (the last rows a strided layer skips, or that only an inner layer's padding stands for, are not seen)."""
    field = rf.find(rf.receptive_fields(model, side), layer)
    cut = oracle.transparent(model)
    inside = 0
    for unit in units:
        mask = oracle.support(cut, layer, side, unit)
        top, left, bottom, right = box = rf.unit_box(field, *unit)
        if top >= 0 and left >= 0 and bottom < side and right < side:
            assert oracle.bounding_box(mask) == box, (layer, unit)
            inside += 1
        else:
            t, lft, b, r = oracle.bounding_box(mask)
            assert max(top, 0) <= t and max(left, 0) <= lft and b <= min(bottom, side - 1) \
                and r <= min(right, side - 1), (layer, unit)
    assert inside, "no unit inside the image was checked"


def test_non_square_kernels_dilation_and_concatenation():
    model = Branches()
    field = rf.find(rf.receptive_fields(model, 64), "stem")
    assert field.size == (3, 3)
    side, layer_rf, unit = oracle.fitting_input(model, "a")
    assert layer_rf.size == (15, 15)  # stem 3, then 7 more pixels each way at jump 2
    _all_units_exact(model, "a", 40, [(10, 10), (3, 17)])
    _all_units_exact(model, "b", 40, [(10, 10)])
    _all_units_exact(model, "c", 40, [(10, 10)])
    # The concatenation: the union of a 15×15, a 11×3 and a 11×11 field.
    out = rf.receptive_fields(model, 40)
    assert [f.name for f in out] == ["stem", "a.0", "a.1", "a", "b", "c"]


def test_padding_pooling_and_adaptive_pooling_per_unit():
    model = Geometry()
    units = [(r, c) for r in range(5) for c in range(3)]
    _all_units_exact(model, "adapt", 90, units)
    _all_units_exact(model, "pool", 90, [(0, 0), (5, 9), (10, 10)])


def test_transposed_convolution_and_upsampling_per_unit():
    model = Decoder()
    fields = rf.receptive_fields(model, 32)
    up = rf.find(fields, "up")
    assert up.kind == "conv" and up.jump == (2, 2) and up.output_size == (16, 16)
    assert rf.find(fields, "conv").jump == (1, 1) and rf.find(fields, "conv").rows.period == 4
    _all_units_exact(model, "up", 32, [(r, c) for r in range(4, 12) for c in (5, 6)])
    _all_units_exact(model, "conv", 32, [(r, 13) for r in range(10, 18)])


def test_misaligned_branches_are_merged_and_reported():
    model = nn.Sequential(TFStyleBlock())
    merged = rf.find(rf.receptive_fields(model, 32), "0")
    assert merged.misaligned and "0 (TFStyleBlock)" in merged.misaligned[0] and "1 px" in merged.misaligned[0]
    _all_units_exact(model, "0", 32, [(0, 0), (7, 8)])


def test_paths_with_different_jumps_raise_naming_the_operation():
    class Mismatch(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, 2, 1)

        def forward(self, x):
            return self.conv(x) + x[:, :, :16, :16]

    with pytest.raises(ValueError, match=r"the model's forward, operation add: paths with different jumps"):
        rf.receptive_fields(Mismatch(), 32)


def test_unsupported_operations_and_untraceable_models_name_the_module():
    class Rolls(nn.Module):
        def forward(self, x):
            return torch.roll(x, 1, dims=3)

    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(ValueError, match=r"1 \(Rolls\), operation roll: .*does not know how roll moves pixels"):
        rf.receptive_fields(nn.Sequential(nn.Conv2d(3, 3, 3), Rolls()), 32)
    with pytest.raises(ValueError, match=r"torch.fx cannot trace 1 \(Branchy\)"):
        rf.receptive_fields(nn.Sequential(nn.Conv2d(3, 3, 3), Branchy()), 32)
    with pytest.raises(ValueError, match=r"0 \(Linear\): a linear layer applied to a feature map"):
        rf.receptive_fields(nn.Sequential(nn.Linear(32, 32)), 32)


def test_too_small_inputs_and_units_outside_the_map_say_what_to_change():
    alexnet = _meta("alexnet")
    smallest = rf.smallest_input(alexnet)
    rf.receptive_fields(alexnet, smallest)
    with pytest.raises(ValueError, match=rf"too small for this network: .* empty map; use at least {smallest}×{smallest}"):
        rf.receptive_fields(alexnet, smallest - 1)
    field = rf.find(rf.receptive_fields(alexnet, 224), "features.12")
    with pytest.raises(ValueError, match=r"outside features.12's 6×6 map: pick a row from 0 to 5"):
        rf.unit_box(field, 6, 0)
    with pytest.raises(ValueError, match="No layer 'nope'"):
        rf.find([field], "nope")


def test_the_architectures_page_networks():
    for shape, spec in [((1, 28, 28), custom_net.LECTURE_CNN),
                        ((3, 32, 32), [{"layer": "Conv2d", "size": 8, "kernel": 3, "stride": 1, "padding": 1},
                                       {"layer": "Residual", "size": 8, "stride": 1},
                                       {"layer": "Residual", "size": 16, "stride": 2},
                                       {"layer": "GlobalAvgPool"}, {"layer": "Linear", "size": 10}])]:
        with torch.device("meta"):
            model = custom_net.build(spec, shape).eval()
        fields = rf.receptive_fields(model, shape[1:])
        for field in fields:
            _assert_exact(model, field.name, shape[0])
    lecture = rf.receptive_fields(custom_net.build(custom_net.LECTURE_CNN, (1, 28, 28)).eval(), (28, 28))
    assert [(f.name, f.size[0]) for f in lecture] == [("0", 5), ("2", 6), ("3", 10), ("5", 12)]
    # After Flatten nothing spatial is left: any layer may follow (here BatchNorm1d, which has no spatial rule).
    flat_bn = [{"layer": "Conv2d", "size": 8, "kernel": 3, "stride": 1, "padding": 0}, {"layer": "Flatten"},
               {"layer": "BatchNorm"}, {"layer": "Linear", "size": 10}]
    assert [f.size for f in rf.receptive_fields(custom_net.build(flat_bn, (1, 28, 28)).eval(), 28)] == [(3, 3)]


def test_tracing_leaves_the_model_and_other_threads_alone():
    model = registry.build("resnet18")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        expected = model(x)
    errors: list[BaseException] = []
    stop = threading.Event()

    def forward_passes():  # another session using the same model while this one is traced
        try:
            while not stop.is_set():
                with torch.inference_mode():
                    assert torch.equal(model(x), expected)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    worker = threading.Thread(target=forward_passes)
    worker.start()
    try:
        for _ in range(5):
            rf.receptive_fields(model, 224)
    finally:
        stop.set()
        worker.join()
    assert not errors
    assert not model.training and not model._forward_hooks
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
