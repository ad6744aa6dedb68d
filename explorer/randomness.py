"""One random generator per training run, so that a seed fixes a run and concurrent runs stay apart.

torch's global random generator is shared by every thread of the server: a run that drew its
augmentation, dropout masks or batch order from it would get different numbers whenever another
session trained or built a model at the same moment. So a run owns a `torch.Generator` seeded
with its seed (`run_generator`) and everything random in it draws from that generator:

- initialisation: torch's modules initialise themselves from the global generator and take no
  generator argument, so the model is built under `seeded(derive_seed(gen))`, which holds
  `GLOBAL_LOCK` (every model build in `explorer` holds it too) and restores the global state after;
- batch order: `torch.randperm(..., generator=gen)`;
- augmentation: `explorer.training.augment.build(..., generator=gen)`;
- dropout and stochastic depth: `generator_dropout(model, gen)` swaps `nn.Dropout` and torchvision's
  `StochasticDepth` for versions that draw their masks from `gen` while the run trains.
The train/validation split is drawn before the run starts, by `datasets.split` from its own
`random.Random(seed)`, so it depends on the seed only as well.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import torch
from torch import nn
from torchvision.ops import StochasticDepth

#: Held by every code path in `explorer` that draws from torch's global generator (model builds).
GLOBAL_LOCK = threading.RLock()


def run_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with `seed`: the only source of randomness of one run."""
    return torch.Generator().manual_seed(int(seed))


def derive_seed(gen: torch.Generator) -> int:
    """A seed drawn from `gen` (for code that can only use the global generator)."""
    return int(torch.randint(0, 2 ** 62, (), generator=gen))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global generator seeded with `seed`, alone (GLOBAL_LOCK), then restore it."""
    with GLOBAL_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class SeededDropout(nn.Module):
    """`nn.Dropout` whose masks come from a given generator (identity in eval mode)."""

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.p, self.generator = float(p), generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep / (1 - self.p)


class SeededStochasticDepth(nn.Module):
    """torchvision's `StochasticDepth` (drop whole residual branches) with masks from a given generator."""

    def __init__(self, p: float, mode: str, generator: torch.Generator) -> None:
        super().__init__()
        self.p, self.mode, self.generator = float(p), mode, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        shape = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        survival = 1.0 - self.p
        noise = torch.empty(shape, dtype=x.dtype).bernoulli_(survival, generator=self.generator)
        return x * (noise / survival if survival > 0 else noise)


def _seeded_copy(module: nn.Module, gen: torch.Generator) -> nn.Module | None:
    if type(module) is nn.Dropout:
        return SeededDropout(module.p, gen)
    if isinstance(module, StochasticDepth):
        return SeededStochasticDepth(module.p, module.mode, gen)
    return None


@contextlib.contextmanager
def generator_dropout(model: nn.Module, gen: torch.Generator) -> Iterator[int]:
    """While the block runs, every `nn.Dropout` and `StochasticDepth` of `model` draws from `gen`.

    The original modules are put back afterwards (also after an exception), so the trained model
    is the plain architecture again. Yields the number of modules swapped.
    """
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for name, module in list(model.named_modules()):
        new = _seeded_copy(module, gen)
        if new is not None and name:
            parent_name, _, leaf = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            new.train(module.training)
            setattr(parent, leaf, new)
            swapped.append((parent, leaf, module))
    try:
        yield len(swapped)
    finally:
        for parent, leaf, original in swapped:
            original.train(getattr(parent, leaf).training)
            setattr(parent, leaf, original)
