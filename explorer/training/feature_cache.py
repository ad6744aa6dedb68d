"""What a training run's frozen blocks give each image, computed once instead of every epoch.

With augmentation off, frozen blocks (eval mode, no gradient) give every image the same output in
every epoch, so `explorer.training.trainer` computes it once and trains on it:

- linear probe: the whole backbone is frozen, so the cache holds the vectors the new head reads
  (`head_features`); an epoch is then a few Linear steps. These vectors are also remembered across
  runs (`HEAD_CACHE_ENTRIES`), so a second probe on the same images skips the backbone entirely.
- fine-tune the last N blocks: `FrozenPrefix` holds the input of the first trained block. While the
  run trains, each frozen block is replaced by a stub that returns zeros of its output's shape, and
  a pre-hook on the first trained block hands it the cached batch instead of what the stubs gave:
  the forward pass costs only the last N blocks (plus any parameter-free glue, on zeros). This
  needs the network to be a chain at the level of its blocks (no value from before the cut reaches
  past it other than through the first trained block); `FrozenPrefix.features` checks this on the
  first batch against the full network and raises `NotAChain` otherwise, and the run trains
  without the cache.

Computations yield progress (images done so far) and return the features: use them with
`features = yield from ...`.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from typing import Generator, Iterator

import torch
from torch import nn

BATCH = 8  # images per forward pass while caching: measured on this CPU, larger batches are not faster
HEAD_CACHE_ENTRIES = 16  # linear-probe feature sets kept across runs (1,797 digits × 1,280 floats = 9 MB)
MAX_PREFIX_BYTES = 256 * 2 ** 20  # a run caches at most this much (train + validation); beyond, no cache

_HEAD: OrderedDict[tuple, torch.Tensor] = OrderedDict()
_HEAD_LOCK = threading.Lock()


class NotAChain(ValueError):
    """The network cannot be cut before its first trained block (its output differs through the cache)."""


def _batched(module_call, x: torch.Tensor) -> Generator[int, None, torch.Tensor]:
    outs = []
    for i in range(0, len(x), BATCH):
        with torch.inference_mode():  # entered per batch: a generator must not hold it across its yields
            outs.append(module_call(x[i:i + BATCH]))
        yield min(i + BATCH, len(x))
    return torch.cat(outs)


def head_features(key: tuple, extractor: nn.Module, x: torch.Tensor) -> Generator[int, None, torch.Tensor]:
    """Frozen-backbone features [N, D] of normalised images x [N, C, H, W], remembered under `key`.

    Args:
        key: what the features depend on besides the pixels (backbone name, seed of its weights);
            a hash of x is added.
        extractor: the frozen network with its head replaced by Identity, in eval mode.
    """
    full = (*key, hashlib.blake2b(x.numpy().tobytes(), digest_size=16).hexdigest())
    with _HEAD_LOCK:
        if full in _HEAD:
            _HEAD.move_to_end(full)
            return _HEAD[full]
    feats = yield from _batched(extractor, x)
    with _HEAD_LOCK:
        _HEAD[full] = feats
        while len(_HEAD) > HEAD_CACHE_ENTRIES:
            _HEAD.popitem(last=False)
    return feats


def clear() -> None:
    """Forget the linear-probe features kept across runs (benchmarks time a first run)."""
    with _HEAD_LOCK:
        _HEAD.clear()


class _Stub(nn.Module):
    """Stands in for a frozen block: zeros of the block's output shape, for the batch being trained."""

    def __init__(self, shape: tuple[int, ...], owner: "FrozenPrefix") -> None:
        super().__init__()
        self.shape, self.owner = shape, owner

    def forward(self, *args: object, **kwargs: object) -> torch.Tensor:
        return torch.zeros(len(self.owner.batch), *self.shape)


class _Stop(Exception):
    """Raised by the capture hook to skip the rest of the network while caching."""


class FrozenPrefix:
    """The input of the first trained block (`cut`) for every image, and a forward pass that starts there.

    Args:
        model: the run's network (its own copy).
        frozen: names of the frozen blocks, all before `cut` in the forward pass.
        cut: name of the first trained block.
    """

    def __init__(self, model: nn.Module, frozen: list[str], cut: str) -> None:
        self.model, self.frozen, self.cut = model, list(frozen), cut
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.input_shape: tuple[int, ...] = ()
        self.batch: torch.Tensor = torch.empty(0)

    def features(self, x: torch.Tensor, max_bytes: int = MAX_PREFIX_BYTES) -> Generator[int, None, torch.Tensor]:
        """Cut inputs [N, ...] of normalised images x [N, C, H, W], computed in eval mode; yields images done.

        The first batch runs through the whole network and through the cache, and the two outputs must
        agree (else NotAChain). Raises NotAChain too when the cache would exceed `max_bytes`.
        """
        model, cut = self.model, self.model.get_submodule(self.cut)
        model.eval()
        self.input_shape = tuple(x.shape[1:])
        captured: list[torch.Tensor] = []
        stop = [False]

        def capture(module: nn.Module, args: tuple) -> None:
            captured.append(args[0].detach().clone())
            if stop[0]:
                raise _Stop

        def shape_of(name: str):
            def hook(module: nn.Module, args: tuple, output: object) -> None:
                if not torch.is_tensor(output):
                    raise NotAChain(f"{name} does not return one tensor.")
                self.shapes.setdefault(name, tuple(output.shape[1:]))
            return hook

        handles = [cut.register_forward_pre_hook(capture)]
        handles += [model.get_submodule(n).register_forward_hook(shape_of(n)) for n in self.frozen]
        try:
            first = x[:BATCH]
            with torch.inference_mode():  # entered per batch: a generator must not hold it across its yields
                reference = model(first)
            per_image = captured[0][0].numel() * captured[0].element_size()
            if per_image * len(x) > max_bytes:
                raise NotAChain(f"{len(x):,} images × {per_image / 1024:,.0f} KiB at {self.cut} would pass "
                                f"{max_bytes / 2 ** 20:.0f} MiB.")
            yield len(first)
            stop[0] = True
            for i in range(BATCH, len(x), BATCH):
                try:
                    with torch.inference_mode():
                        model(x[i:i + BATCH])
                except _Stop:
                    pass
                yield min(i + BATCH, len(x))
        finally:
            for h in handles:
                h.remove()
        feats = torch.cat(captured)
        with self.active(), torch.inference_mode():
            through_cache = self(feats[:len(first)])
        if not torch.allclose(through_cache, reference, rtol=1e-4, atol=1e-5 * float(reference.abs().max()) + 1e-6):
            raise NotAChain(f"the network's output depends on more than {self.cut}'s input.")
        return feats

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Frozen blocks replaced by stubs and the cut fed from `self.batch`, until the block ends."""
        originals = {n: self.model.get_submodule(n) for n in self.frozen}
        for name in self.frozen:
            _set(self.model, name, _Stub(self.shapes[name], self))
        handle = self.model.get_submodule(self.cut).register_forward_pre_hook(
            lambda module, args: (self.batch, *args[1:]))
        try:
            yield
        finally:
            handle.remove()
            for name, module in originals.items():
                _set(self.model, name, module)

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        """Logits of the network for cached cut inputs `feats` [B, ...] (inside `active()`)."""
        self.batch = feats
        return self.model(torch.zeros(1, *self.input_shape).expand(len(feats), *self.input_shape))


def _set(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)
