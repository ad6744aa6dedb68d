"""explorer.training.feature_cache: the frozen blocks' output computed once gives what the whole network gives."""

import pytest
import torch
from torch import nn

from explorer.training import datasets, feature_cache, trainer
from explorer.training.config import TrainConfig
from explorer.training.augment import Augment


@pytest.fixture(scope="module")
def small():
    data = datasets.demo_shapes(4, classes=("circle", "square"), size=40, seed=2)  # 224 px inputs: few images
    train, val = datasets.split(data, 0.25, seed=0)
    return data, train, val


@pytest.mark.parametrize("backbone, blocks", [
    ("efficientnet_lite0", 1),  # features.0-7 frozen, the 1x1 head conv trains
    ("resnet18", 1),  # random weights offline; glue between blocks (in-place ReLU, max pooling)
    ("alexnet", 1),  # dropout between the frozen fc6 and the trained fc7
    ("lenet5", 2),
])
def test_a_cached_frozen_prefix_gives_the_first_epoch_loss_of_the_full_network(small, backbone, blocks):
    data, train, val = small
    config = TrainConfig(backbone, "finetune_last", epochs=1, batch_size=4, finetune_blocks=blocks, seed=1)
    cached = list(trainer.train(config, train, val, data.classes))
    full = list(trainer.train(config, train, val, data.classes, cache_frozen=False))
    assert cached[-1]["cache"] == "prefix" and full[-1]["cache"] is None
    progress = [m["done"] for m in cached if m["kind"] == "prepare"]
    assert progress == sorted(progress) and progress[-1] == len(train) + len(val)
    (e_cached,), (e_full,) = ([m for m in out if m["kind"] == "epoch"] for out in (cached, full))
    for key in ("train_loss", "val_loss"):
        assert e_cached[key] == pytest.approx(e_full[key], rel=1e-4, abs=1e-6), key
    assert e_cached["train_acc"] == e_full["train_acc"] and e_cached["val_acc"] == e_full["val_acc"]
    # The trained model is whole again: its own forward pass gives the validation loss of the cached run.
    model = cached[-1]["model"]
    logits = model.logits([img for img, _ in val])
    loss = nn.functional.cross_entropy(logits, torch.tensor([y for _, y in val]))
    assert float(loss) == pytest.approx(e_cached["val_loss"], rel=1e-4)


def test_augmentation_turns_the_cache_off(small):
    data, train, val = small
    config = TrainConfig("lenet5", "finetune_last", epochs=1, finetune_blocks=1,
                         augment=Augment(hflip=True))
    assert not config.prefix_cache
    assert list(trainer.train(config, train, val, data.classes))[-1]["cache"] is None


class _Skip(nn.Module):
    """A network whose output needs more than the second block's input: b(a(x)) + a(x)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        return self.b(h) + h


def test_a_network_that_is_not_a_chain_is_refused():
    prefix = feature_cache.FrozenPrefix(_Skip().eval(), ["a"], "b")
    with pytest.raises(feature_cache.NotAChain, match="depends on more than b's input"):
        list(prefix.features(torch.randn(10, 4)))


def test_a_cache_larger_than_the_limit_is_refused():
    chain = nn.Sequential(nn.Linear(4, 64), nn.Linear(64, 2)).eval()
    prefix = feature_cache.FrozenPrefix(chain, ["0"], "1")
    with pytest.raises(feature_cache.NotAChain, match="would pass"):
        list(prefix.features(torch.randn(100, 4), max_bytes=1000))
    gen = prefix.features(torch.randn(20, 4))
    assert list(gen) == [8, 16, 20]
