"""Training a classifier on a small data set with the lectures' four strategies.

The strategies and the settings of a run are `explorer.training.config`.

The data sets are plain lists of (PIL image, label). `train()` is a generator: it yields a
metrics dict after every batch ("batch") and every epoch ("epoch"), and finally one "done"
dict holding the `TrainedModel`. Set `stop_event` to end it between two batches.

Frozen blocks computed once (`explorer.training.feature_cache`): with augmentation off, a linear probe
trains its head on the backbone's features of every image, computed once; fine-tuning the last N
blocks trains them on the cached input of the first of them. The caching is reported as "prepare"
progress, and the final images/s count it. `cache_frozen=False` trains without the cache.

Randomness (`explorer.randomness`): one `torch.Generator` per run, seeded with `config.seed`,
draws the initialisation seed, the batch order, the augmentation and the dropout masks, so the
same configuration and seed give the same metrics, whatever runs at the same time.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Generator, Iterator

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from explorer.training import augment as aug_mod
from explorer import randomness
from explorer.models import custom_net, zoo
from explorer.training import feature_cache as fc
from explorer.training.classifier import Preprocess, TrainedModel, evaluation_from_logits, input_spec
from explorer.training.config import CUSTOM, TrainConfig
from explorer.models import registry


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
        model, note = registry.build(name), "Random initial weights (trained from scratch)."
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


def frozen_macs_share(config: TrainConfig) -> float:
    """Share (0-1) of the network's multiply-adds done by the blocks `config` freezes, counted on the meta
    device at the network's input size with a 2-class head: the work caching their output saves in every epoch
    after the first."""
    from explorer.architecture.profiling import profile  # noqa: PLC0415 (only this function profiles)

    config.check()
    with torch.device("meta"):
        model, head, _ = architecture(config.backbone, 2, pretrained=False, custom=config.custom_net)
    blocks = [n for n, _ in backbone_blocks(model, head)]
    n_tuned = {"linear_probe": 0, "finetune_last": config.finetune_blocks}.get(config.strategy, len(blocks))
    frozen = tuple(blocks[:max(0, len(blocks) - n_tuned)])
    prof = profile(model, input_spec(config).input_shape if config.backbone != CUSTOM else
                   custom_net.check_trainable(config.custom_net)[1])
    done = sum(r.macs for r in prof.layers if r.name.split(" ")[0] in frozen
               or r.name.startswith(tuple(f + "." for f in frozen)))
    return done / max(prof.macs, 1)


@dataclass
class Prepared:
    """A model made ready for a strategy by `prepare_model`."""

    model: nn.Module
    head: str  # dotted path of the new Linear head
    frozen: list[str]  # names of frozen backbone blocks (kept in eval mode while training)
    tuned: list[str]  # names of trainable backbone blocks
    weights_note: str


def prepare_model(config: TrainConfig, num_classes: int, gen: torch.Generator | None = None) -> Prepared:
    """Build the network for `config` and freeze exactly what its strategy says.

    Args:
        gen: the run's generator; the initialisation seed is its first draw (default: a generator
            seeded with `config.seed`, so the same config always starts from the same weights).
    """
    config.check()
    gen = gen if gen is not None else randomness.run_generator(config.seed)
    with randomness.seeded(randomness.derive_seed(gen)):
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
    """Training mode where it is wanted. The frozen part is a fixed feature extractor: for a linear probe
    everything but the head, for "fine-tune the last N" every module before the first trained block
    (frozen blocks and the parameter-free dropout between them), stays in eval mode, so its output and
    batch-norm statistics are the same in every epoch (which is what makes caching it exact)."""
    if strategy == "linear_probe":
        p.model.eval()
        return
    p.model.train()
    if p.frozen and p.tuned:
        cut = p.tuned[0]
        for name, module in p.model.named_modules():
            if name == cut:
                break
            if name and not cut.startswith(name + "."):
                module.eval()


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


# --- the training loop ------------------------------------------------------------------------

def _batches(n: int, size: int, gen: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=gen)
    out = list(perm.split(size))
    if len(out) > 1 and len(out[-1]) == 1:  # batch norm cannot train on a batch of one
        out[-2] = torch.cat([out[-2], out[-1]])
        out.pop()
    return out



def _progress(inner: Generator[int, None, torch.Tensor], offset: int, total: int,
              t_start: float) -> Generator[dict, None, torch.Tensor]:
    """Turn a cache computation's "images done" into "prepare" metrics; return its features."""
    t0 = time.perf_counter()
    while True:
        try:
            done = next(inner)
        except StopIteration as finished:
            return finished.value
        rate = done / max(time.perf_counter() - t0, 1e-9)
        yield {"kind": "prepare", "stage": "features", "done": offset + done, "total": total,
               "elapsed": time.perf_counter() - t_start, "eta_s": (total - offset - done) / rate}


def train(config: TrainConfig, train_set: list[tuple[Image.Image, int]], val_set: list[tuple[Image.Image, int]],
          classes: list[str] | None = None, stop_event: threading.Event | None = None,
          cache_frozen: bool = True) -> Iterator[dict]:
    """Train a classifier and yield metrics as it goes.

    Args:
        config: the run's settings.
        train_set, val_set: [(PIL image, label)]; labels are 0..num_classes-1.
        classes: class names (default: "0", "1", ...).
        stop_event: when set, training ends before the next batch; the model so far is returned.
        cache_frozen: compute the frozen blocks' output once when augmentation is off (the default);
            False recomputes it every epoch (for comparisons: the metrics agree within float tolerance).

    Yields:
        {"kind": "prepare", "stage": "features", "done", "total" (images of both sets), "elapsed", "eta_s"}
         while the frozen blocks' output is computed once;
        {"kind": "batch", "epoch", "step", "steps", "train_loss", "train_acc" (running means over the
         epoch so far), "images_per_s" (images trained so far / time since the start, preparation
         included), "elapsed", "eta_s"} after every batch;
        {"kind": "epoch", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds" (this
         epoch's wall time), "images_per_s" (this epoch's training steps only), "elapsed", "eta_s"};
        finally {"kind": "done", "stopped", "epochs_done", "model": TrainedModel, "evaluation":
         Evaluation of the final model on val_set, "elapsed", "cache" ("head", "prefix" or None),
         "fast_path" (cache == "head"), "cache_seconds", "cache_note" (why the cache was not used, or ""),
         "images_per_s" (images trained / elapsed: end to end, preparation included),
         "train_images_per_s" (the training steps alone)}.
    """
    if not train_set or not val_set:
        raise ValueError("Both the training and the validation set need images.")
    labels = [label for _, label in train_set + val_set]
    classes = list(classes) if classes is not None else [str(i) for i in range(max(labels) + 1)]
    if len(classes) < 2 or min(labels) < 0 or max(labels) >= len(classes):
        raise ValueError("Labels must index at least 2 class names.")
    t_start = time.perf_counter()
    gen = randomness.run_generator(config.seed)
    prep = prepare_model(config, len(classes), gen)
    entry = input_spec(config)
    pre = Preprocess(entry)
    pipeline = aug_mod.build(config.augment, entry.in_channels, gen)
    x_train = pre.pixels([img for img, _ in train_set])  # uint8, augmented per batch
    y_train = torch.tensor([label for _, label in train_set])
    x_val = pre.normalize(pre.pixels([img for img, _ in val_set]))
    y_val = torch.tensor([label for _, label in val_set])
    model, head = prep.model, prep.model.get_submodule(prep.head)
    n, total = len(train_set), len(train_set) + len(val_set)

    cache, cache_note, prefix, feats_train, feats_val = None, "", None, None, None
    t0 = time.perf_counter()
    if cache_frozen and config.fast_path:  # the frozen backbone's output, once: swap the head out for Identity
        _set_module(model, prep.head, nn.Identity())
        model.eval()
        key = (config.backbone, config.seed)
        feats_train = yield from _progress(fc.head_features(key, model, pre.normalize(x_train)), 0, total, t_start)
        feats_val = yield from _progress(fc.head_features(key, model, x_val), n, total, t_start)
        _set_module(model, prep.head, head)
        cache = "head"
    elif cache_frozen and config.prefix_cache and prep.frozen:  # the input of the first trained block, once
        prefix = fc.FrozenPrefix(model, prep.frozen, prep.tuned[0])
        try:
            feats_train = yield from _progress(prefix.features(pre.normalize(x_train)), 0, total, t_start)
            feats_val = yield from _progress(prefix.features(x_val), n, total, t_start)
            cache = "prefix"
        except fc.NotAChain as exc:
            prefix, cache_note = None, f"The frozen blocks run in every epoch: {exc}"
    cache_seconds = time.perf_counter() - t0 if cache else 0.0

    def forward(idx: torch.Tensor) -> torch.Tensor:
        if cache == "head":
            return head(feats_train[idx])
        if cache == "prefix":
            return prefix(feats_train[idx])
        return model(pre.normalize(aug_mod.apply(pipeline, x_train[idx])))

    def validate() -> torch.Tensor:
        model.eval()
        with torch.inference_mode():
            if cache == "head":
                return head(feats_val)
            if cache == "prefix":
                return torch.cat([prefix(feats_val[i:i + 64]) for i in range(0, len(feats_val), 64)])
            return torch.cat([model(x_val[i:i + 8]) for i in range(0, len(x_val), 8)])

    optimizer = _optimizer(config, prep)
    steps_per_epoch = len(_batches(n, config.batch_size, torch.Generator().manual_seed(0)))
    total_steps = steps_per_epoch * config.epochs
    done_steps, trained, train_time, stopped, epochs_done = 0, 0, 0.0, False, 0
    t_loop = time.perf_counter()

    def eta() -> float:
        per_step = (time.perf_counter() - t_loop) / max(done_steps, 1)
        return per_step * (total_steps - done_steps)

    with (randomness.generator_dropout(model, gen),
          prefix.active() if prefix is not None else contextlib.nullcontext()):
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
                logits = forward(idx)
                loss = F.cross_entropy(logits, y_train[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                t_train += time.perf_counter() - t0
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == y_train[idx]).sum())
                seen += len(idx)
                trained += len(idx)
                done_steps += 1
                elapsed = time.perf_counter() - t_start
                yield {"kind": "batch", "epoch": epoch, "step": step, "steps": len(batches),
                       "train_loss": loss_sum / seen, "train_acc": correct / seen,
                       "images_per_s": trained / elapsed, "elapsed": elapsed, "eta_s": eta()}
            train_time += t_train
            if stopped:
                break
            val_logits = validate()
            val_loss = float(F.cross_entropy(val_logits, y_val))
            val_acc = float((val_logits.argmax(1) == y_val).float().mean())
            epochs_done = epoch
            yield {"kind": "epoch", "epoch": epoch, "train_loss": loss_sum / max(seen, 1),
                   "train_acc": correct / max(seen, 1), "val_loss": val_loss, "val_acc": val_acc,
                   "seconds": time.perf_counter() - t_epoch, "images_per_s": seen / max(t_train, 1e-9),
                   "elapsed": time.perf_counter() - t_start, "eta_s": eta()}
        if stopped or epochs_done == 0:  # weights moved since the last validation: evaluate the final model
            val_logits = validate()
    model.eval()
    elapsed = time.perf_counter() - t_start
    yield {"kind": "done", "stopped": stopped, "epochs_done": epochs_done,
           "model": TrainedModel(model, classes, config, prep.weights_note),
           "evaluation": evaluation_from_logits(val_logits, y_val.tolist(), len(classes)),
           "elapsed": elapsed, "cache": cache, "fast_path": cache == "head", "cache_seconds": cache_seconds,
           "cache_note": cache_note, "images_per_s": trained / elapsed,
           "train_images_per_s": trained / train_time if train_time > 0 else 0.0}


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def is_finite(metrics: dict) -> bool:
    """False if a loss became NaN or infinite (learning rate too high)."""
    return all(math.isfinite(metrics[k]) for k in ("train_loss", "val_loss") if k in metrics)
