"""Model comparison and the training-memory estimate, against torchvision metadata and real PyTorch training."""

import pytest
import torch
import torchvision

from explorer.architecture import comparison
from explorer.models import custom_net as cn
from explorer.architecture.profiling import profile
from explorer.architecture.training_memory import OPTIMIZER_STATES, training_memory
from explorer.models import registry


def test_compare_reports_progress_and_metadata():
    calls = []
    table = comparison.compare(["lenet5", "resnet18", "mobilenet_v2"], progress=lambda i, n, name: calls.append((i, n, name)))
    assert calls == [(0, 3, "lenet5"), (1, 3, "resnet18"), (2, 3, "mobilenet_v2"), (3, 3, "")]
    row = table.set_index("name").loc["resnet18"]
    assert row["params"] == registry.info("resnet18").num_params
    assert row["ImageNet top-1 (%)"] == registry.info("resnet18").top1
    assert table.set_index("name")["ImageNet top-1 (%)"].isna()["lenet5"]


def test_profile_model_at_other_sizes_and_too_small_input():
    assert comparison.profile_model("resnet18", 448).macs == pytest.approx(4 * comparison.profile_model("resnet18").macs,
                                                                           rel=0.001)
    with pytest.raises(ValueError, match="Layer"):
        comparison.profile_model("alexnet", 16)


def _optimizer_state_bytes(model, optimizer) -> int:
    model(torch.randn(2, 1, 28, 28)).sum().backward()
    optimizer.step()
    return sum(t.numel() * t.element_size() for s in optimizer.state.values() for k, t in s.items()
               if torch.is_tensor(t) and k != "step")


@pytest.mark.parametrize("name,make", [
    ("SGD", lambda p: torch.optim.SGD(p, lr=0.1)),
    ("SGD with momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    ("Adam", lambda p: torch.optim.Adam(p)),
])
def test_weights_gradients_and_optimizer_state_match_a_real_step(name, make):
    model = cn.build(cn.LECTURE_CNN, (1, 28, 28))
    model[0].requires_grad_(False)  # a frozen layer: no gradient, no optimizer state
    est = training_memory(profile(model, (1, 28, 28)), name, batch_size=2)
    optimizer = make([p for p in model.parameters() if p.requires_grad])
    assert est["optimizer state"] == _optimizer_state_bytes(model, optimizer)
    assert est["weights"] == sum(p.numel() * p.element_size() for p in model.parameters())
    assert est["gradients"] == sum(p.grad.numel() * p.grad.element_size() for p in model.parameters()
                                   if p.grad is not None)


@pytest.mark.parametrize("name,model,shape", [
    ("resnet18", lambda: torchvision.models.resnet18(), (3, 112, 112)),
    ("lecture_cnn", lambda: cn.build(cn.LECTURE_CNN, (1, 28, 28)), (1, 28, 28)),
])
def test_activation_estimate_is_close_to_what_autograd_saves(name, model, shape):
    """Within 35% of the bytes autograd actually keeps for backward (it also keeps pooling indices
    and drops some outputs); the estimate scales linearly with the batch."""
    model = model().train()
    params = {p.untyped_storage()._cdata for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        if t.untyped_storage()._cdata not in params:
            saved[t.untyped_storage()._cdata] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(4, *shape))
    prof = profile(model, shape, batch_size=1)
    est = training_memory(prof, "SGD", batch_size=4)["activations"]
    assert est == pytest.approx(sum(saved.values()), rel=0.35)
    assert training_memory(prof, "SGD", 8)["activations"] == pytest.approx(2 * est, abs=1)


def test_training_memory_rejects_bad_settings():
    prof = profile(cn.build(cn.LECTURE_CNN, (1, 28, 28)), (1, 28, 28))
    with pytest.raises(ValueError, match="optimizer"):
        training_memory(prof, "RMSprop")
    with pytest.raises(ValueError, match="batch"):
        training_memory(prof, "SGD", 0)
    assert set(OPTIMIZER_STATES) == {"SGD", "SGD with momentum", "Adam"}


def test_the_bubble_chart_labels_do_not_overlap_and_its_log_axis_has_round_ticks():
    from explorer.architecture import figures as figs
    from explorer.figures.layout import label_boxes, overlap, to_px

    table = comparison.compare(["alexnet", "vgg16", "googlenet", "resnet18", "resnet50", "mobilenet_v2",
                                "efficientnet_b0", "efficientnet_lite0"])  # the page's default selection
    layout = figs.accuracy_bubbles(table).spec["layout"]
    notes = layout["annotations"]
    xy = to_px([a["x"] for a in notes], [a["y"] for a in notes], list(layout["xaxis"]["range"]),
               list(layout["yaxis"]["range"]), figs.BUBBLE_PLOT_PX)
    boxes = label_boxes(xy, [(a["xshift"], a["yshift"]) for a in notes], [a["text"] for a in notes])
    assert len(boxes) == 7  # EfficientNet-Lite0 has no torchvision accuracy
    assert all(overlap(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert set(layout["xaxis"]["ticktext"]) <= {"0.1", "0.2", "0.5", "1", "2", "5", "10", "20", "50"}
