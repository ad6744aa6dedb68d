"""Training a classifier on a small data set with the lectures' four strategies.

Strategies (lecture 3, "Choosing the right transfer learning approach"; lecture 4, options 1-2):

- "scratch": random weights everywhere, every parameter trained.
- "linear_probe": feature extraction. The pretrained backbone is frozen (requires_grad False and
  kept in eval mode, so batch-norm statistics do not move either); only a new Linear head learns.
- "finetune_last": the last `finetune_blocks` blocks of the backbone and the new head learn; the
  blocks before them stay frozen. `backbone_blocks()` lists what a "block" is for each network.
- "finetune_all": every parameter learns, the backbone with the smaller `backbone_lr`.

The data sets are plain lists of (PIL image, label). `train()` is a generator: it yields a
metrics dict after every batch ("batch") and every epoch ("epoch"), and finally one "done"
dict holding the `TrainedModel`. Set `stop_event` to end it between two batches.

A custom network from the Architectures page (`explorer.custom_net`) is backbone "custom": the
config carries its spec and input shape as text (`custom_text`). It has no pretrained weights, so
only "scratch" applies; its last layer must be a Linear, re-sized to the number of classes.

Fast path: with a frozen backbone and no augmentation, every image's backbone features are
computed once and cached, and an epoch only trains the head on the cached vectors (milliseconds).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision import transforms as T

from explorer import augment as aug_mod
from explorer import custom_net, zoo
from explorer.augment import Augment

STRATEGIES = ("scratch", "linear_probe", "finetune_last", "finetune_all")
STRATEGY_TITLES = {
    "scratch": "From scratch",
    "linear_probe": "Feature extraction (linear probe)",
    "finetune_last": "Fine-tune the last N blocks",
    "finetune_all": "Fine-tune everything",
}
OPTIMIZERS = ("adam", "sgd")
#: Backbones the trainer cannot use: SqueezeNet's classifier is a convolution, not a Linear layer.
UNSUPPORTED = ("squeezenet1_1",)

#: Backbone value of the custom network built on the Architectures page (spec in `TrainConfig.custom_net`).
CUSTOM = "custom"
CUSTOM_MEAN_STD = 0.5  # custom networks: pixels scaled to [0, 1], then (x - 0.5) / 0.5 -> [-1, 1]
_BUILD_LOCK = threading.Lock()
_ALWAYS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "lenet5")


def backbones() -> list[str]:
    """Backbones to offer: EfficientNet-Lite0/1/2 (ImageNet weights offline), LeNet-5 (from scratch),
    then every other zoo model whose torchvision weights are already in the torch hub cache."""
    names = list(_ALWAYS)
    names += [name for name in zoo.list_models()
              if name not in names and name not in UNSUPPORTED and zoo.cached_weights(name) is not None]
    return names  # model init draws from torch's global RNG; seed it one run at a time


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (JSON-serialisable with `to_dict`)."""

    backbone: str = "efficientnet_lite0"
    strategy: str = "linear_probe"
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3  # learning rate of the new head (and of everything, from scratch)
    backbone_lr: float = 1e-4  # learning rate of fine-tuned backbone blocks
    optimizer: str = "adam"  # "adam" or "sgd" (momentum 0.9)
    weight_decay: float = 0.0
    seed: int = 0
    augment: Augment = field(default_factory=Augment)
    finetune_blocks: int = 1  # N for "finetune_last"
    custom_net: str | None = None  # backbone "custom": `custom_net.to_config(spec, input_shape)`

    @property
    def backbone_label(self) -> str:
        """How tables and run labels name the backbone."""
        return "custom network" if self.backbone == CUSTOM else self.backbone

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        data["augment"] = Augment(**data.get("augment", {}))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def check(self) -> None:
        """Raise ValueError with a student-facing message for impossible settings."""
        if self.backbone == CUSTOM:
            custom_net.check_trainable(self.custom_net)
            if self.strategy != "scratch":
                raise ValueError("A custom network has no pretrained weights to transfer: train it \"From scratch\".")
        else:
            zoo.info(self.backbone)
        if self.backbone in UNSUPPORTED:
            raise ValueError(f"{self.backbone} ends in a convolution, not a Linear layer; choose another backbone.")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"Unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; choose adam or sgd.")
        if not 1 <= self.epochs <= 1000 or not 1 <= self.batch_size <= 1024:
            raise ValueError("Epochs must be 1-1000 and the batch size 1-1024.")
        if not (self.lr > 0 and self.backbone_lr > 0 and self.weight_decay >= 0):
            raise ValueError("Learning rates must be positive and weight decay not negative.")
        if self.strategy == "finetune_last" and self.finetune_blocks < 1:
            raise ValueError("Fine-tune at least 1 block.")

    @property
    def fast_path(self) -> bool:
        """True when backbone features can be cached: frozen backbone and no augmentation."""
        return self.strategy == "linear_probe" and not self.augment.enabled


# --- the model -------------------------------------------------------------------------------

def _head_path(model: nn.Module) -> str:
    """Dotted path of the last nn.Linear: the classifier layer that transfer learning replaces."""
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("This network has no Linear classifier layer to replace.")
    return linears[-1]


def _set_module(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def architecture(name: str, num_classes: int, pretrained: bool,
                 custom: str | None = None) -> tuple[nn.Module, str, str]:
    """The zoo network `name` with a new Linear head of `num_classes` outputs.

    For `name == CUSTOM`, the network of `custom` (`custom_text` form), its last Linear layer
    re-sized to `num_classes`; it has no pretrained weights (`pretrained` must be False).

    Returns:
        (model in eval mode, dotted path of the head, sentence on where the weights came from).
        The model is a private copy: `zoo.load` builds a new one on every call.
    """
    if name == CUSTOM:
        if pretrained:
            raise ValueError("A custom network has no pretrained weights to transfer: train it \"From scratch\".")
        spec, shape = custom_net.check_trainable(custom)
        spec = [*spec[:-1], {**spec[-1], "size": num_classes}]
        model = custom_net.build(spec, shape)
        return model.eval(), str(len(spec) - 1), "Your network from the Architectures page, random initial weights."
    if pretrained:
        loaded = zoo.load(name, pretrained=True)
        model, note = loaded.model, loaded.weights_note
        if not loaded.pretrained:
            note = f"{note} A frozen backbone of random weights gives random features."
    else:
        model, note = zoo.build(name), "Random initial weights (trained from scratch)."
    if hasattr(model, "AuxLogits"):  # Inception v3: train only the main classifier
        model.aux_logits, model.AuxLogits = False, None
    path = _head_path(model)
    old = model.get_submodule(path)
    _set_module(model, path, nn.Linear(old.in_features, num_classes))
    return model.eval(), path, note


def backbone_blocks(model: nn.Module, head: str) -> list[tuple[str, nn.Module]]:
    """The backbone's blocks in forward order: top-level children, with `features` and
    `classifier` Sequentials opened up; parameter-free modules and the head are left out.

    EfficientNet-Lite: stem, 7 MBConv stages, 1x1 head conv. ResNet: conv1, bn1, layer1-4.
    LeNet-5: C1, C3, F5, F6.
    """
    blocks = []
    for name, child in model.named_children():
        if name in ("features", "classifier") and isinstance(child, nn.Sequential):
            blocks += [(f"{name}.{sub}", m) for sub, m in child.named_children()]
        else:
            blocks.append((name, child))
    return [(n, m) for n, m in blocks if n != head and any(True for _ in m.parameters())]


def block_names(name: str) -> list[str]:
    """Names of `backbone_blocks` of zoo model `name` (built on the meta device: no memory, milliseconds)."""
    with torch.device("meta"):
        model, head, _ = architecture(name, 2, pretrained=False)
    return [n for n, _ in backbone_blocks(model, head)]


@dataclass
class Prepared:
    """A model made ready for a strategy by `prepare_model`."""

    model: nn.Module
    head: str  # dotted path of the new Linear head
    frozen: list[str]  # names of frozen backbone blocks (kept in eval mode while training)
    tuned: list[str]  # names of trainable backbone blocks
    weights_note: str


def prepare_model(config: TrainConfig, num_classes: int) -> Prepared:
    """Build the network for `config` and freeze exactly what its strategy says."""
    config.check()
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model, head, note = architecture(config.backbone, num_classes, config.strategy != "scratch", config.custom_net)
    blocks = backbone_blocks(model, head)
    if config.strategy == "linear_probe":
        n_tuned = 0
    elif config.strategy == "finetune_last":
        if config.finetune_blocks > len(blocks):
            raise ValueError(f"{config.backbone} has {len(blocks)} blocks; fine-tune at most {len(blocks)}.")
        n_tuned = config.finetune_blocks
    else:
        n_tuned = len(blocks)
    frozen, tuned = blocks[:len(blocks) - n_tuned], blocks[len(blocks) - n_tuned:]
    for _, module in frozen:
        module.requires_grad_(False)
    return Prepared(model, head, [n for n, _ in frozen], [n for n, _ in tuned], note)


def _train_mode(p: Prepared, strategy: str) -> None:
    """Training mode where it is wanted: frozen blocks (and, for a linear probe, everything
    but the head, including dropout) stay in eval mode so their outputs and statistics are fixed."""
    if strategy == "linear_probe":
        p.model.eval()
        return
    p.model.train()
    for name in p.frozen:
        p.model.get_submodule(name).eval()


def _optimizer(config: TrainConfig, p: Prepared) -> torch.optim.Optimizer:
    head_params = list(p.model.get_submodule(p.head).parameters())
    head_ids = {id(q) for q in head_params}
    rest = [q for q in p.model.parameters() if q.requires_grad and id(q) not in head_ids]
    groups = [{"params": head_params, "lr": config.lr}]
    if rest:
        groups.append({"params": rest, "lr": config.lr if config.strategy == "scratch" else config.backbone_lr})
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, weight_decay=config.weight_decay)
    return torch.optim.Adam(groups, weight_decay=config.weight_decay)


# --- images to tensors -----------------------------------------------------------------------

@dataclass(frozen=True)
class InputSpec:
    """The input fields of `zoo.ModelInfo` that `Preprocess` reads (sizes may be (H, W) pairs)."""

    input_size: int | tuple[int, int]
    resize_size: int | tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_channels: int
    interpolation: T.InterpolationMode = T.InterpolationMode.BILINEAR


def input_spec(config: TrainConfig) -> zoo.ModelInfo | InputSpec:
    """What the network of `config` takes: a zoo model's preprocessing, or for a custom network
    (C, H, W) = its input: images resized to H×W (grayscale if C == 1), mean = std = 0.5."""
    if config.backbone != CUSTOM:
        return zoo.info(config.backbone)
    c, h, w = custom_net.check_trainable(config.custom_net)[1]
    return InputSpec((h, w), (h, w), (CUSTOM_MEAN_STD,) * c, (CUSTOM_MEAN_STD,) * c, c)


class Preprocess:
    """PIL image -> model input, split in two halves so augmentation can sit in between.

    `pixels`: grayscale (LeNet), resize, centre crop -> uint8 [C, H, W] (as `zoo.make_transform`).
    `normalize`: uint8 [N, C, H, W] -> float, scaled to [0, 1], minus mean, over std.
    """

    def __init__(self, entry: zoo.ModelInfo | InputSpec) -> None:
        steps = [] if entry.in_channels == 3 else [T.Grayscale(entry.in_channels)]
        self._pixels = T.Compose(steps + [
            T.Resize(entry.resize_size, interpolation=entry.interpolation, antialias=True),
            T.CenterCrop(entry.input_size), T.PILToTensor()])
        self.mean = torch.tensor(entry.mean).view(1, -1, 1, 1)
        self.std = torch.tensor(entry.std).view(1, -1, 1, 1)
        self.channels = entry.in_channels

    def pixels(self, images: list[Image.Image]) -> torch.Tensor:
        """[N, C, H, W] uint8."""
        return torch.stack([self._pixels(img.convert("RGB")) for img in images])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 [N, C, H, W] -> normalised float32 [N, C, H, W]."""
        return (x.float() / 255.0 - self.mean) / self.std

    def __call__(self, images: list[Image.Image]) -> torch.Tensor:
        return self.normalize(self.pixels(images))


# --- the trained model -----------------------------------------------------------------------

@dataclass
class TrainedModel:
    """A trained classifier: the network (eval mode), its class names and the run's configuration."""

    model: nn.Module
    classes: list[str]
    config: TrainConfig
    weights_note: str = ""

    @property
    def preprocess(self) -> Preprocess:
        return Preprocess(input_spec(self.config))

    def logits(self, images: list[Image.Image], batch: int = 64) -> torch.Tensor:
        """[N, num_classes] logits of PIL images."""
        prep = self.preprocess
        self.model.eval()
        outs = []
        with torch.inference_mode():
            for i in range(0, len(images), batch):
                outs.append(self.model(prep(images[i:i + batch])))
        return torch.cat(outs) if outs else torch.empty(0, len(self.classes))


def predict(trained: TrainedModel, image: Image.Image, k: int = 3) -> list[tuple[str, float]]:
    """Top-k [(class name, probability in [0, 1])] for one image, highest first."""
    probs = torch.softmax(trained.logits([image]), dim=1)[0]
    top = torch.topk(probs, min(k, probs.numel()))
    return [(trained.classes[i], float(p)) for p, i in zip(top.values.tolist(), top.indices.tolist())]


@dataclass
class Evaluation:
    """Predictions on a labelled set.

    confusion[i, j]: images of true class i predicted as class j. probs: [N, C] softmax.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    confusion: np.ndarray

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean()) if len(self.y_true) else float("nan")

    @property
    def misclassified(self) -> list[int]:
        """Indices of wrongly predicted samples, most confident mistakes first."""
        wrong = np.flatnonzero(self.y_true != self.y_pred)
        return sorted(wrong.tolist(), key=lambda i: -self.probs[i, self.y_pred[i]])


def evaluate(trained: TrainedModel, samples: list[tuple[Image.Image, int]]) -> Evaluation:
    """Confusion matrix, predictions and probabilities of `trained` on labelled samples."""
    return evaluation_from_logits(trained.logits([img for img, _ in samples]), [label for _, label in samples],
                                  len(trained.classes))


def evaluation_from_logits(logits: torch.Tensor, labels: list[int], num_classes: int) -> Evaluation:
    """An Evaluation from logits [N, num_classes] already computed for samples with `labels`."""
    probs = torch.softmax(logits.float(), dim=1).numpy()
    y_true = np.array(labels, dtype=int)
    y_pred = probs.argmax(1) if len(labels) else np.zeros(0, dtype=int)
    confusion = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(confusion, (y_true, y_pred), 1)
    return Evaluation(y_true, y_pred, probs, confusion)


# --- the training loop ------------------------------------------------------------------------

def _batches(n: int, size: int, gen: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=gen)
    out = list(perm.split(size))
    if len(out) > 1 and len(out[-1]) == 1:  # batch norm cannot train on a batch of one
        out[-2] = torch.cat([out[-2], out[-1]])
        out.pop()
    return out


def _forward_all(module: nn.Module, x: torch.Tensor, batch: int = 8) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([module(x[i:i + batch]) for i in range(0, len(x), batch)])


_FEATURES: OrderedDict[tuple[str, int, str], torch.Tensor] = OrderedDict()
_FEATURES_LOCK = threading.Lock()
FEATURE_CACHE_ENTRIES = 16  # a few MB each at most (1,797 digits x 1,280 floats = 9 MB)


def _cached_features(backbone: str, seed: int, extractor: nn.Module, pixels: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """Frozen pretrained features of uint8 `pixels` [N, C, H, W] -> [N, D], remembered across runs.

    The key is the backbone name, the seed (a backbone without pretrained weights is initialised
    from it) and a hash of the exact pixels, so a second linear probe on the same images (another
    learning rate, more epochs) skips the backbone entirely.
    """
    key = (backbone, seed, hashlib.blake2b(pixels.numpy().tobytes(), digest_size=16).hexdigest())
    with _FEATURES_LOCK:
        if key in _FEATURES:
            _FEATURES.move_to_end(key)
            return _FEATURES[key]
    feats = _forward_all(extractor, pre.normalize(pixels))
    with _FEATURES_LOCK:
        _FEATURES[key] = feats
        while len(_FEATURES) > FEATURE_CACHE_ENTRIES:
            _FEATURES.popitem(last=False)
    return feats


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Temporarily use `n` intra-op threads (None: leave as is). The setting is process-wide.

    A Linear layer on a few hundred cached vectors is far too small to split across threads:
    on a busy 2-core machine one thread trains it 10-20x faster than two.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n is not None:
            torch.set_num_threads(before)


def train(config: TrainConfig, train_set: list[tuple[Image.Image, int]], val_set: list[tuple[Image.Image, int]],
          classes: list[str] | None = None, stop_event: threading.Event | None = None) -> Iterator[dict]:
    """Train a classifier and yield metrics as it goes.

    Args:
        config: the run's settings.
        train_set, val_set: [(PIL image, label)]; labels are 0..num_classes-1.
        classes: class names (default: "0", "1", ...).
        stop_event: when set, training ends before the next batch; the model so far is returned.

    Yields:
        {"kind": "batch", "epoch", "step", "steps", "train_loss", "train_acc" (running means
         over the epoch so far), "images_per_s", "elapsed", "eta_s"} after every batch;
        {"kind": "epoch", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"
         (this epoch's wall time), "images_per_s" (training throughput), "elapsed", "eta_s"};
        finally {"kind": "done", "stopped", "epochs_done", "model": TrainedModel, "evaluation":
         Evaluation of the final model on val_set, "elapsed", "fast_path", "cache_seconds", "images_per_s"}.
    """
    if not train_set or not val_set:
        raise ValueError("Both the training and the validation set need images.")
    labels = [label for _, label in train_set + val_set]
    classes = list(classes) if classes is not None else [str(i) for i in range(max(labels) + 1)]
    if len(classes) < 2 or min(labels) < 0 or max(labels) >= len(classes):
        raise ValueError("Labels must index at least 2 class names.")
    t_start = time.perf_counter()
    prep = prepare_model(config, len(classes))
    entry = input_spec(config)
    pre = Preprocess(entry)
    pipeline = aug_mod.build(config.augment, entry.in_channels)
    x_train = pre.pixels([img for img, _ in train_set])  # uint8, augmented per batch
    y_train = torch.tensor([label for _, label in train_set])
    val_pixels = pre.pixels([img for img, _ in val_set])
    x_val = pre.normalize(val_pixels)
    y_val = torch.tensor([label for _, label in val_set])
    model, head = prep.model, prep.model.get_submodule(prep.head)

    fast = config.fast_path
    cache_seconds = 0.0
    if fast:  # the frozen backbone's output for every image, once: swap the head out for Identity
        t0 = time.perf_counter()
        _set_module(model, prep.head, nn.Identity())
        model.eval()
        feats_train = _cached_features(config.backbone, config.seed, model, x_train, pre)
        feats_val = _cached_features(config.backbone, config.seed, model, val_pixels, pre)
        _set_module(model, prep.head, head)
        cache_seconds = time.perf_counter() - t0

    optimizer = _optimizer(config, prep)
    gen = torch.Generator().manual_seed(config.seed)
    n = len(train_set)
    steps_per_epoch = len(_batches(n, config.batch_size, torch.Generator().manual_seed(0)))
    total_steps = steps_per_epoch * config.epochs
    done_steps, train_time, stopped, epochs_done = 0, 0.0, False, 0
    t_loop = time.perf_counter()

    def eta() -> float:
        per_step = (time.perf_counter() - t_loop) / max(done_steps, 1)
        return per_step * (total_steps - done_steps)

    with _threads(1 if fast else None):
        for epoch in range(1, config.epochs + 1):
            t_epoch = time.perf_counter()
            _train_mode(prep, config.strategy)
            loss_sum, correct, seen, t_train = 0.0, 0, 0, 0.0
            batches = _batches(n, config.batch_size, gen)
            for step, idx in enumerate(batches, 1):
                if stop_event is not None and stop_event.is_set():
                    stopped = True
                    break
                t0 = time.perf_counter()
                if fast:
                    logits = head(feats_train[idx])
                else:
                    logits = model(pre.normalize(aug_mod.apply(pipeline, x_train[idx])))
                loss = F.cross_entropy(logits, y_train[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                t_train += time.perf_counter() - t0
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == y_train[idx]).sum())
                seen += len(idx)
                done_steps += 1
                yield {"kind": "batch", "epoch": epoch, "step": step, "steps": len(batches),
                       "train_loss": loss_sum / seen, "train_acc": correct / seen,
                       "images_per_s": seen / max(t_train, 1e-9), "elapsed": time.perf_counter() - t_start,
                       "eta_s": eta()}
            if stopped:
                break
            model.eval()
            with torch.inference_mode():
                val_logits = head(feats_val) if fast else _forward_all(model, x_val)
                val_loss = float(F.cross_entropy(val_logits, y_val))
                val_acc = float((val_logits.argmax(1) == y_val).float().mean())
            epochs_done = epoch
            train_time += t_train
            yield {"kind": "epoch", "epoch": epoch, "train_loss": loss_sum / max(seen, 1),
                   "train_acc": correct / max(seen, 1), "val_loss": val_loss, "val_acc": val_acc,
                   "seconds": time.perf_counter() - t_epoch, "images_per_s": seen / max(t_train, 1e-9),
                   "elapsed": time.perf_counter() - t_start, "eta_s": eta()}
    model.eval()
    trained = TrainedModel(model, classes, config, prep.weights_note)
    if stopped or epochs_done == 0:  # weights moved since the last validation: evaluate the final model
        with torch.inference_mode():
            val_logits = head(feats_val) if fast else _forward_all(model, x_val)
    yield {"kind": "done", "stopped": stopped, "epochs_done": epochs_done, "model": trained,
           "evaluation": evaluation_from_logits(val_logits, y_val.tolist(), len(classes)),
           "elapsed": time.perf_counter() - t_start, "fast_path": fast, "cache_seconds": cache_seconds,
           "images_per_s": n * epochs_done / train_time if train_time > 0 else 0.0}


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def is_finite(metrics: dict) -> bool:
    """False if a loss became NaN or infinite (learning rate too high)."""
    return all(math.isfinite(metrics[k]) for k in ("train_loss", "val_loss") if k in metrics)
