"""Faithfulness checks of attribution maps: do not take any heat map on faith.

- `model_randomization` (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): the
  cascading model-parameter randomization test. A copy of the model is re-initialized block by
  block from the top (the classifier) down, and each step's map is compared with the trained
  model's map by Spearman rank correlation of |map| (their figure 2). A map that explains the
  model must change once the weights it depends on are random; Guided Backprop and Guided
  Grad-CAM barely change: they mostly redraw the image's edges.
- `deletion_insertion` (Petsiuk et al., "RISE", BMVC 2018): the target class's probability as
  the most-attributed pixels are deleted (set to the normalisation mean, i.e. grey), or inserted
  into a blurred copy of the image. A faithful map makes deletion fall fast (small area) and
  insertion rise fast (large area). Each map is compared with its own inverse order (least
  relevant first) and with a random order. The blurred canvas uses σ = 10 px
  (`explorer.attribution.baselines.BLUR_SIGMA`), not RISE's 11-pixel kernel, under which Lite0 still sees the class.

Both are heavy (one attribution per block; about 150 forward passes) and take `progress`,
`cancel` and `executor` like `methods.attribute`.
"""

from __future__ import annotations

import copy
import math
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from scipy.stats import spearmanr
from torch import nn

from explorer.attribution import methods as attr
from explorer.attribution.baselines import blurred
from explorer.attribution.explained_model import Explained, check_target, explained, structural_copy
from explorer.runtime.batches import Batches, CancelFlag, Cancelled, Progress, worker_pool

#: A step passes the randomization test when its map's Spearman correlation with the trained
#: model's map is below this (Adebayo et al. read their curves the same way: near 1 = unchanged).
RANDOMIZATION_THRESHOLD = 0.5


@dataclass(frozen=True)
class RandomizationStep:
    """One step of the cascade: every block from the top down to `block` is re-initialized.

    Unpacks as (block, spearman).

    Attributes:
        block: the last block re-initialized (dotted module name).
        spearman: rank correlation of |map| with the trained model's |map|, in [-1, 1]; NaN when
            the map went blank (constant), which counts as changed.
        map: the map of the randomized model, float32 [H, W].
    """

    block: str
    spearman: float
    map: np.ndarray

    def __iter__(self):
        return iter((self.block, self.spearman))

    @property
    def changed(self) -> bool:
        """True when the map no longer resembles the trained model's (ρ below the threshold, or blank)."""
        return math.isnan(self.spearman) or self.spearman < RANDOMIZATION_THRESHOLD


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of |a| and |b| (ties get their average rank); NaN if either is constant."""
    a, b = np.abs(np.asarray(a, np.float64)).ravel(), np.abs(np.asarray(b, np.float64)).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def cascade_blocks(module: nn.Module, x: torch.Tensor) -> list[str]:
    """The blocks the cascade re-initializes, in forward order (the first block first).

    The top-level children of the network, with `features` and `classifier` containers opened up
    (Lite0: features.0 … features.8, classifier.1; ResNet: conv1, bn1, layer1 … layer4, fc);
    only those with parameters that run in a forward pass of `x` [1, C, H, W].
    """
    candidates = []
    for name, child in module.named_children():
        if name in ("features", "classifier") and isinstance(child, nn.Sequential):
            candidates += [(f"{name}.{sub}", m) for sub, m in child.named_children()]
        else:
            candidates.append((name, child))
    twin = structural_copy(module)
    order: list[str] = []
    handles = [twin.get_submodule(name).register_forward_hook(
        lambda _m, _a, _o, name=name: order.append(name) if name not in order else None)
        for name, m in candidates if any(True for _ in m.parameters())]
    try:
        with torch.inference_mode():
            twin(x)
    finally:
        for h in handles:
            h.remove()
    return order


def reinitialize(block: nn.Module, generator: torch.Generator) -> None:
    """Give every layer of `block` the weights PyTorch gives a new layer, drawn from `generator`.

    Conv and Linear weights: Kaiming-uniform (a = √5), biases uniform ±1/√fan_in (their
    `reset_parameters`); normalisation layers: weight 1, bias 0, running mean 0 and variance 1.
    """
    for m in block.modules():
        weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
        if isinstance(weight, torch.Tensor) and weight.dim() > 1:
            nn.init.kaiming_uniform_(weight.data, a=math.sqrt(5), generator=generator)
            if isinstance(bias, torch.Tensor):
                bound = 1 / math.sqrt(nn.init._calculate_fan_in_and_fan_out(weight)[0])
                nn.init.uniform_(bias.data, -bound, bound, generator=generator)
        elif isinstance(weight, torch.Tensor):
            nn.init.ones_(weight.data)
            if isinstance(bias, torch.Tensor):
                nn.init.zeros_(bias.data)
        if hasattr(m, "reset_running_stats"):
            m.reset_running_stats()


def passes_randomization(steps: list[RandomizationStep]) -> bool:
    """The method passes when its map has changed at every step of the top half of the cascade.

    Once the classifier and the top blocks are random, a map that explains the model must look
    different; a map that still matches is drawing the image, not the model's reasons. Deeper
    steps, with most of the network already random, compare two random maps and are not judged.
    """
    top = steps[:max(1, math.ceil(len(steps) / 2))]
    return all(step.changed for step in top)


def model_randomization(model, image: Image.Image | torch.Tensor, method: str, target: int | None = None, *,
                        progress: Progress | None = None, cancel: CancelFlag | None = None,
                        executor: Executor | None = None, seed: int = 0, reference: attr.Attribution | None = None,
                        **options) -> list[RandomizationStep]:
    """The cascading model-parameter randomization test of `method` on one image.

    Args:
        model, image, method, target, options: as `methods.attribute`. The target stays the
            trained model's class at every step.
        seed: seed of the re-initialization (the same seed gives the same steps).
        reference: the trained model's attribution for this image and method, if already computed
            (its target and options are used).

    Returns:
        One `RandomizationStep` per block, top block first; step i has blocks 0..i (from the top)
        re-initialized. The shared model is untouched: the cascade works on a deep copy.
    """
    net = explained(model)
    x = net.input(image)
    trained = reference or attr.attribute(net, x, method, target, cancel=cancel, executor=executor, **options)
    if trained.method != method:
        raise ValueError(f"The reference map was made with {trained.method}, not {method}.")
    kept = {k: v for k, v in trained.options.items() if k in attr.METHODS[method].defaults}
    blocks = cascade_blocks(net.module, x)
    twin = copy.deepcopy(structural_copy(net.module))  # hooks stripped, then weights copied
    shadow = Explained(twin, net.labels, None, net.mean, net.std, net.pretrained, net.title)
    generator = torch.Generator().manual_seed(seed)
    steps = []
    for i, block in enumerate(reversed(blocks)):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"Randomization test: cancelled after {i} of {len(blocks)} blocks.")
        reinitialize(twin.get_submodule(block), generator)
        inner = None if progress is None else (
            lambda f, _m, i=i: progress((i + f) / len(blocks), f"Randomization test: block {i + 1} of {len(blocks)}"))
        a = attr.attribute(shadow, x, method, trained.target, progress=inner, cancel=cancel, executor=executor,
                           **kept)
        steps.append(RandomizationStep(block, spearman(trained.map, a.map), a.map))
        if progress is not None:
            progress((i + 1) / len(blocks), f"Randomization test: {i + 1} of {len(blocks)} blocks re-initialized")
    return steps


@dataclass(frozen=True)
class DeletionInsertion:
    """Deletion and insertion curves of one map, its inverse and a random order.

    Unpacks as (deletion_auc, insertion_auc) of the map's own order.

    Attributes:
        fractions: float [S + 1], share of pixels deleted or inserted, 0 … 1.
        curves: {(kind, order): probabilities [S + 1]} for kind in ("deletion", "insertion") and
            order in ORDERS; the target's softmax probability after each step.
        method: the attribution's method.
    """

    fractions: np.ndarray
    curves: dict[tuple[str, str], np.ndarray]
    method: str

    def auc(self, kind: str, order: str = "map") -> float:
        """Area under a curve (trapezoids over the fraction axis), in [0, 1]."""
        return float(np.trapezoid(self.curves[(kind, order)], self.fractions))

    @property
    def deletion_auc(self) -> float:
        return self.auc("deletion")

    @property
    def insertion_auc(self) -> float:
        return self.auc("insertion")

    def __iter__(self):
        return iter((self.deletion_auc, self.insertion_auc))

    @property
    def beats_inverse(self) -> bool:
        """The check passes: deletion falls faster and insertion rises faster than in the inverse order."""
        return (self.auc("deletion") < self.auc("deletion", "inverse")
                and self.auc("insertion") > self.auc("insertion", "inverse"))


#: Pixel orders: the map's (most relevant first), its inverse (least relevant first), random.
ORDERS = ("map", "inverse", "random")
KINDS = ("deletion", "insertion")
_BATCH = 13  # images per forward pass


def _ranks(heat: np.ndarray, order: str, rng: np.random.Generator) -> np.ndarray:
    """rank[pixel] = step at which the pixel goes (0 first); equal values are broken at random."""
    flat = heat.ravel().astype(np.float64)
    tiebreak = rng.random(flat.size)
    if order == "map":
        sequence = np.lexsort((tiebreak, -flat))
    elif order == "inverse":
        sequence = np.lexsort((tiebreak, flat))
    else:
        sequence = rng.permutation(flat.size)
    ranks = np.empty(flat.size, dtype=np.int64)
    ranks[sequence] = np.arange(flat.size)
    return ranks.reshape(heat.shape)


def deletion_insertion(model, image: Image.Image | torch.Tensor, attribution: attr.Attribution, *,
                       steps: int = 24, seed: int = 0, progress: Progress | None = None,
                       cancel: CancelFlag | None = None, executor: Executor | None = None) -> DeletionInsertion:
    """RISE's deletion and insertion curves of `attribution`'s map on the image it explains.

    Args:
        model, image: those the attribution was computed with.
        attribution: its `map` orders the pixels (largest value first; for signed maps the most
            positive first) and its `target` is the class whose probability is tracked.
        steps: S, the pixels are deleted or inserted in S equal steps.
        seed: seed of the random order and of tie-breaking between equal map values.

    Returns:
        A `DeletionInsertion`; it unpacks as (deletion_auc, insertion_auc). Deletion sets pixels
        to 0 in the model's normalised space (the mean colour); insertion starts from the image
        blurred with σ = 10 px (`baselines.blurred`).
    """
    net = explained(model)
    x = net.input(image)
    if tuple(attribution.map.shape) != tuple(x.shape[-2:]):
        raise ValueError(f"The map is {attribution.map.shape[0]}×{attribution.map.shape[1]} but this model sees "
                         f"{x.shape[-2]}×{x.shape[-1]} px: pass the attribution made for this model and image.")
    check_target(net, attribution.target)
    if not 2 <= steps <= 224:
        raise ValueError("Deletion and insertion need 2-224 steps.")
    rng = np.random.default_rng(seed)
    ranks = {order: torch.from_numpy(_ranks(attribution.map, order, rng)) for order in ORDERS}
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * x.shape[-1] * x.shape[-2]).astype(np.int64)
    canvas = {"deletion": (x, torch.zeros_like(x)), "insertion": (blurred(x), x)}
    jobs = [(kind, order, part) for kind in KINDS for order in ORDERS
            for part in np.array_split(np.arange(steps + 1), math.ceil((steps + 1) / _BATCH))]

    def run(job: tuple[str, str, np.ndarray]) -> torch.Tensor:
        kind, order, part = job
        start, end = canvas[kind]  # pixels ranked below the count come from `end`
        masks = torch.stack([ranks[order] < int(counts[k]) for k in part])[:, None]  # [B, 1, H, W]
        batch = torch.where(masks, end, start)
        with torch.inference_mode():
            return torch.softmax(net.module(batch).float(), 1)[:, attribution.target].clone()

    batches = Batches("Deletion and insertion", progress, cancel, executor)
    probs = batches.run(run, jobs, "batch")
    curves: dict[tuple[str, str], list] = {}
    for (kind, order, _), p in zip(jobs, probs):
        curves.setdefault((kind, order), []).extend(p.tolist())
    return DeletionInsertion(fractions, {k: np.array(v) for k, v in curves.items()}, attribution.method)


CHECKS = ("randomization", "deletion")


def check_task(check: str, model, image: Image.Image | torch.Tensor, method: str, target: int | None, options: dict,
               reference: attr.Attribution | None = None, *, progress: Progress, cancel: CancelFlag,
               deletion_steps: int = 24) -> tuple[attr.Attribution, list[RandomizationStep] | DeletionInsertion]:
    """One sanity check as a Dask task (`explorer.runtime.tasks.submit`), its batches on this process's cores.

    Args:
        check: "randomization" (`model_randomization`) or "deletion" (`deletion_insertion`).
        reference: the trained model's map, if computed already (else it is computed first).

    Returns:
        (the trained model's map, the check's result).
    """
    if check not in CHECKS:
        raise ValueError(f"Unknown check {check!r}: choose one of {', '.join(CHECKS)}.")
    pool = worker_pool()
    ref = reference or attr.attribute(model, image, method, target, cancel=cancel, executor=pool, **options)
    if check == "randomization":
        return ref, model_randomization(model, image, method, target, progress=progress, cancel=cancel,
                                        executor=pool, reference=ref, **options)
    return ref, deletion_insertion(model, image, ref, steps=deletion_steps, progress=progress, cancel=cancel,
                                   executor=pool)
