"""The one store of shared models: every zoo model this process has loaded, within a memory budget.

Pages, the warm start and Dask tasks that run in this process all read models from `shared()`:
one copy of each model per process, never mutated (DESIGN.md section 6). Work that attaches hooks
to a shared model holds `lock(name)` while they are attached; training copies the model first.

Eviction has one rule, bytes: models are kept within `CNN_EXPLORER_MODEL_MB` (256 MB by default),
least recently used first out, rather than a fixed number of entries. 23 architectures from 0.2 MB
(LeNet-5) to 548 MB (VGG-19) cannot all stay, and a count limit let a class that picks models at
random rebuild them all the time (issue 10). The models whose weights ship with the app (the
EfficientNet-Lite family, 70 MB together) are outside the budget and always stay: every page starts
on them, and the warm start's results are keyed by their build (`stamp`). Each model is built once
however many threads ask for it at the same moment; the others wait for that build.

Issue 17: with 800 MB, a class of 30 that roams the zoo kept VGG and AlexNet loaded, and the web
process's PSS peaked at 3.7 GiB; with 200 MB, 2.1 GiB at the same latencies (`bench/classroom.py`).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from functools import lru_cache

from dask.sizeof import sizeof
from torch import nn

from explorer.models import zoo

#: Bytes of parameters the server keeps loaded before it drops the least recently used model.
MODEL_BUDGET = int(os.environ.get("CNN_EXPLORER_MODEL_MB", "256")) * 2**20


class ModelStore:
    """Loaded models by (name, pretrained), least recently used first out past `budget` bytes.

    Thread-safe: one load per key at a time; callers of a key being loaded wait for it.
    Models with their pretrained weights always stay and are not counted; of the others, the most
    recently used always stays, whatever its size.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._models: OrderedDict[tuple[str, bool], zoo.LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, bool], threading.Lock] = {}
        self._loads: dict[tuple[str, bool], int] = {}
        self._hooks: dict[str, threading.Lock] = {}

    def cached(self, name: str, pretrained: bool = True) -> zoo.LoadedModel | None:
        """The model if it is loaded (and mark it used), else None. Never blocks on a load."""
        with self._lock:
            loaded = self._models.get((name, pretrained))
            if loaded is not None:
                self._models.move_to_end((name, pretrained))
            return loaded

    def get(self, name: str, pretrained: bool = True) -> zoo.LoadedModel:
        """The model, loading it with `explorer.models.zoo.load` if needed (ValueError for an unknown name)."""
        key = (name, pretrained)
        loaded = self.cached(*key)
        if loaded is not None:
            return loaded
        with self._lock:
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one load per key; the others wait here, then find it loaded
            loaded = self.cached(*key)
            if loaded is None:
                loaded = zoo.load(name, pretrained=pretrained)
                with self._lock:
                    self._models[key] = loaded
                    self._loads[key] = self._loads.get(key, 0) + 1
                    self._evict()
        return loaded

    def stamp(self, name: str, pretrained: bool = True) -> str:
        """"resnet18#2": which load of a model is current, for cache keys. An untrained model gets new
        random weights each time it is built again after eviction, so results cached for the old
        build must not be shown with the new one."""
        with self._lock:
            return f"{name}#{self._loads.get((name, pretrained), 0)}"

    def lock(self, name: str) -> threading.Lock:
        """The lock to hold while hooks are attached to the shared model `name` (one per name)."""
        with self._lock:
            return self._hooks.setdefault(name, threading.Lock())

    def loaded(self) -> list[tuple[str, bool]]:
        """Keys of the models held, least recently used first."""
        with self._lock:
            return list(self._models)

    def _evict(self) -> None:  # with self._lock held
        counted = [key for key, loaded in self._models.items() if not loaded.pretrained]  # oldest first
        total = sum(model_bytes(self._models[key]) for key in counted)
        for key in counted[:-1]:
            if total <= self.budget:
                break
            total -= model_bytes(self._models.pop(key))


def module_bytes(module: nn.Module) -> int:
    """Bytes of a network's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def model_bytes(loaded: zoo.LoadedModel) -> int:
    """Bytes of a loaded model's parameters and buffers."""
    return module_bytes(loaded.model)


# A loaded model counts as its network when Dask sizes a task's arguments, so that it goes beside the
# task instead of inside it (explorer.runtime.tasks).
sizeof.register(zoo.LoadedModel)(model_bytes)


@lru_cache(maxsize=1)
def shared() -> ModelStore:
    """This process's one store (the pages' and the embedded cluster's tasks'), with `MODEL_BUDGET`."""
    return ModelStore(MODEL_BUDGET)
