"""explorer.randomness and explorer.training.augment: one generator per run, so a seed fixes a run and runs stay apart."""

import numpy as np
import pytest
import torch

from explorer import randomness
from explorer.models import custom_net
from explorer.runtime import cluster
from explorer.training import augment, datasets, jobs
from explorer.training.config import TrainConfig
from explorer.training.config import CUSTOM
from explorer.runtime import worker

AUG = augment.Augment(rotation=20, width_shift=0.1, height_shift=0.1, shear=5, zoom=0.1, hflip=True, vflip=True,
                      colour=0.3, channel_shift=20, randaugment=True)
# A small network with dropout, so that the masks are part of what the seed must fix.
NET = [{"layer": "Conv2d", "size": 6, "kernel": 3, "stride": 1, "padding": 1}, {"layer": "ReLU"},
       {"layer": "MaxPool2d", "kernel": 2, "stride": 2, "padding": 0}, {"layer": "Flatten"},
       {"layer": "Dropout", "p": 0.3}, {"layer": "Linear", "size": 3}]


def _config(seed: int = 3) -> TrainConfig:
    return TrainConfig(CUSTOM, "scratch", epochs=2, batch_size=4, lr=3e-3, seed=seed, augment=AUG,
                       custom_net=custom_net.to_config(NET, (3, 24, 24)))


def test_augmentation_draws_only_from_its_generator():
    x = torch.randint(0, 256, (6, 3, 40, 40), dtype=torch.uint8)
    before = torch.get_rng_state()
    a = augment.apply(augment.build(AUG, 3, torch.Generator().manual_seed(5)), x)
    b = augment.apply(augment.build(AUG, 3, torch.Generator().manual_seed(5)), x)
    c = augment.apply(augment.build(AUG, 3, torch.Generator().manual_seed(6)), x)
    assert torch.equal(before, torch.get_rng_state())  # the global generator was not touched
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, x)


def test_seeded_dropout_keeps_the_expected_share_and_scale():
    gen = torch.Generator().manual_seed(0)
    layer = randomness.SeededDropout(0.25, gen).train()
    y = layer(torch.ones(100_000))
    assert (y == 0).float().mean() == pytest.approx(0.25, abs=0.01)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.02)  # kept values are scaled by 1 / (1 - p)
    assert torch.equal(layer.eval()(torch.ones(5)), torch.ones(5))


def test_generator_dropout_swaps_and_restores_the_modules():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 2))
    with randomness.generator_dropout(model, torch.Generator()) as n:
        assert n == 1 and isinstance(model[1], randomness.SeededDropout)
    assert type(model[1]) is torch.nn.Dropout


def test_same_seed_and_augmentation_give_identical_metrics_even_when_runs_overlap(shapes):
    """Two runs with one seed train at the same time (two slots) and equal a third run trained alone."""
    data, train, val = shapes
    assert cluster.engine().slots() >= 2  # the embedded cluster trains one run per core
    alone = jobs.start(_config(), train, val, data.classes)
    assert alone.wait(120) and alone.status == worker.DONE, alone.error
    before = torch.get_rng_state()
    pair = [jobs.start(_config(), train, val, data.classes) for _ in range(2)]
    other = jobs.start(_config(seed=4), train, val, data.classes)
    for run in pair + [other]:
        assert run.wait(120) and run.status == worker.DONE, run.error
    keys = ("train_loss", "train_acc", "val_loss", "val_acc")
    metrics = [[[e[k] for k in keys] for e in run.epochs] for run in [alone, *pair]]
    assert metrics[0] == metrics[1] == metrics[2]
    assert [[e[k] for k in keys] for e in other.epochs] != metrics[0]  # the seed matters
    assert [b["train_loss"] for b in alone.batches] == [b["train_loss"] for b in pair[1].batches]
    assert torch.equal(before, torch.get_rng_state())  # the runs never drew from the global generator
    for a, b in zip(alone.result.model.state_dict().values(), pair[0].result.model.state_dict().values()):
        assert torch.equal(a, b)
    assert type(alone.result.model[4]) is torch.nn.Dropout  # the trained model is the plain architecture


def test_the_split_depends_on_the_seed_only(shapes):
    data = shapes[0]
    a, b = datasets.split(data, 0.3, seed=1), datasets.split(data, 0.3, seed=1)
    assert [np.array(i).tobytes() for i, _ in a[1]] == [np.array(i).tobytes() for i, _ in b[1]]
