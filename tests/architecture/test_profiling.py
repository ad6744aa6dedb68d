"""explorer.architecture.profiling against torchvision's metadata and against a real CPU forward pass."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from explorer.architecture.profiling import CONVENTION, profile
from explorer.models import registry

WITH_META = [n for n in registry.list_models() if registry.info(n).num_params is not None]


def _meta_profile(name: str, **kwargs):
    with torch.device("meta"):
        model = registry.build(name)
    return profile(model, registry.info(name).input_shape, **kwargs)


def test_registry_has_metadata_models():
    assert len(WITH_META) >= 19  # every torchvision entry of the zoo


@pytest.mark.parametrize("name", WITH_META)
def test_params_and_macs_match_torchvision_metadata(name):
    entry = registry.info(name)
    prof = _meta_profile(name)
    assert prof.params == entry.num_params
    assert prof.macs / 1e9 == pytest.approx(entry.gmacs, rel=0.01)


@pytest.mark.parametrize("name", ["lenet5", "efficientnet_lite0"])
def test_models_without_metadata_match_torch_counts(name):
    with torch.device("meta"):
        model = registry.build(name)
    prof = profile(model, registry.info(name).input_shape)
    assert prof.params == sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as fc, torch.enable_grad():
        model(torch.zeros(1, *registry.info(name).input_shape, device="meta"))
    assert prof.macs * 2 == fc.get_total_flops()


def test_batch_size_scales_macs_and_memory_not_params():
    one, four = _meta_profile("resnet18"), _meta_profile("resnet18", batch_size=4)
    assert four.params == one.params
    assert four.macs == 4 * one.macs
    assert four.activation_bytes == 4 * one.activation_bytes
    assert four.layers[0].output_shape == (4, 64, 112, 112)


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "inception_v3", "mobilenet_v3_small", "efficientnet_lite0",
                                  "densenet121"])
def test_with_batch_equals_a_profile_at_that_batch(name):
    """The architectures page scales the cached batch-1 profile instead of profiling again."""
    one, three = _meta_profile(name), _meta_profile(name, batch_size=3)
    assert one.with_batch(3) == three
    assert three.with_batch(1) == one


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "googlenet", "mobilenet_v3_small"])
def test_rows_agree_with_hooks_on_a_real_cpu_forward(name):
    """The meta-device profile equals what forward hooks see on real CPU tensors."""
    entry = registry.info(name)
    torch.manual_seed(0)
    model = registry.build(name)  # real weights on the CPU
    seen: list[tuple[str, tuple, int]] = []
    names = {m: n for n, m in model.named_modules()}
    leaves = [m for m in model.modules() if not list(m.children())]

    def hook(module, args, output):
        seen.append((names[module], tuple(output.shape), output.numel() * 4,
                     output.data_ptr() == args[0].data_ptr()))

    handles = [m.register_forward_hook(hook) for m in leaves]
    with torch.no_grad():
        model(torch.randn(1, *entry.input_shape))
    for h in handles:
        h.remove()
    with FlopCounterMode(display=False) as fc:
        model(torch.randn(1, *entry.input_shape))
    prof = _meta_profile(name)
    rows = [r for r in prof.layers if not r.type.startswith("(")]
    assert [r.name.split(" (call")[0] for r in rows] == [s[0] for s in seen]
    assert [r.output_shape for r in rows] == [s[1] for s in seen]
    assert [r.aliases_input for r in rows] == [s[3] for s in seen]
    assert [r.activation_bytes for r in rows] == [0 if s[3] else s[2] for s in seen]
    assert prof.params == sum(p.numel() for p in model.parameters())
    assert 2 * prof.macs == fc.get_total_flops()
    # per-layer MACs: each conv/linear's count equals the counter's count for that module alone
    conv = next(m for m in leaves if isinstance(m, nn.Conv2d))
    conv_row = next(r for r in rows if r.name == names[conv])
    conv_in = torch.randn(conv_row.output_shape[0], conv.in_channels, *_input_hw(model, conv, entry))
    with FlopCounterMode(display=False) as fc1:
        conv(conv_in)
    assert 2 * conv_row.macs == fc1.get_total_flops()


def _input_hw(model, conv, entry):
    got = {}

    def grab(module, args):  # returns None: a pre-hook's return value would replace the input
        got.setdefault("hw", tuple(args[0].shape[-2:]))

    h = conv.register_forward_pre_hook(grab)
    with torch.no_grad():
        model(torch.randn(1, *entry.input_shape))
    h.remove()
    return got["hw"]


def test_inplace_relu_and_eval_dropout_are_flagged_not_double_counted():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.ReLU(), nn.Flatten(),
                          nn.Dropout(0.5), nn.Linear(8 * 30 * 30, 10)).eval()
    prof = profile(model, (3, 32, 32))
    flags = [r.aliases_input for r in prof.layers]
    assert flags == [False, True, False, True, True, False]
    conv_bytes = 8 * 30 * 30 * 4
    assert [r.activation_bytes for r in prof.layers] == [conv_bytes, 0, conv_bytes, 0, 0, 40]
    assert prof.activation_bytes == 2 * conv_bytes + 40
    assert prof.macs == 8 * 30 * 30 * 27 + 8 * 30 * 30 * 10


def test_shared_module_gets_one_row_per_call_and_params_once():
    lin = nn.Linear(4, 4)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    prof = profile(model, (4,))
    assert [r.name for r in prof.layers] == ["0", "1", "0 (call 2)"]
    assert [r.params for r in prof.layers] == [20, 0, 0]
    assert prof.params == 20 and prof.macs == 32


def test_functional_work_in_a_container_gets_its_own_row():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = nn.Linear(8, 8)

        def forward(self, x):  # (N, T, 8)
            q = self.q(x)
            return q @ q.transpose(1, 2)

    prof = profile(Attn(), (5, 8))
    types = {r.type: r.macs for r in prof.layers}
    assert types["(functional)"] == 5 * 5 * 8
    assert types["Linear"] == 5 * 8 * 8
    with FlopCounterMode(display=False) as fc:
        Attn()(torch.zeros(1, 5, 8))
    assert 2 * prof.macs == fc.get_total_flops()


def test_unused_aux_head_params_are_reported_on_their_own_row():
    prof = _meta_profile("inception_v3")
    unused = [r for r in prof.layers if r.type == "(unused)"]
    assert len(unused) == 1 and unused[0].params > 0


def test_frozen_parameters_are_not_trainable():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    prof = profile(model, (3,))
    assert prof.params == 26 and prof.trainable_params == 10


def test_meta_profile_leaves_model_without_hooks():
    with torch.device("meta"):
        model = registry.build("resnet18")
    profile(model, (3, 224, 224))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_bad_input_names_the_layer_and_shape():
    model = nn.Sequential(nn.Conv2d(3, 8, 5), nn.Flatten(), nn.Linear(10, 2))
    with pytest.raises(ValueError, match=r"Layer '2'.*\(1, 3, 16, 16\)"):
        profile(model, (3, 16, 16))
    with pytest.raises(ValueError, match="positive"):
        profile(model, (3, 0, 16))


def test_grouping_sums_to_totals():
    prof = _meta_profile("resnet50")
    g = prof.grouped(1)
    assert list(g["group"])[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert g["MACs"].sum() == prof.macs and g["params"].sum() == prof.params
    assert g["activation bytes"].sum() == prof.activation_bytes
    assert len(prof.grouped(2)) > len(g)


def test_to_frame_columns_and_convention():
    frame = _meta_profile("alexnet").to_frame()
    assert list(frame.columns) == ["name", "type", "output shape", "params", "trainable params",
                                   "activation bytes", "MACs", "aliases input"]
    assert "FLOPs = 2 × MACs" in CONVENTION
