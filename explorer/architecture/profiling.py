"""Per-layer shapes, parameters, activation memory and multiply-accumulates of any `nn.Module`.

`profile(model, input_shape=(3, H, W), batch_size=1)` runs one forward pass and records, for every
call of a leaf layer, the output shape, the parameters it owns, the bytes of its output in float32
and its multiply-accumulates (MACs).

Counting conventions (DESIGN.md section 5, checked against torchvision's metadata in the tests):
- MACs are counted exactly as `torch.utils.flop_counter` counts FLOPs, divided by 2: the same
  formulas (`flop_registry`) for convolution, mm/addmm/bmm and attention. Batch norm, activations,
  pooling and residual additions are not counted (`CONVENTION` says so in words).
- The forward pass runs with grad enabled, so that no fused inference fast path (such as
  `nn.MultiheadAttention`'s) hides its matrix products from the counter.
- A layer whose output shares storage with its input (in-place ReLU, Dropout in eval mode,
  Identity, Flatten as a view) is flagged `aliases_input` and adds no activation bytes.
- A module called twice (torchvision's ResNet blocks reuse one ReLU) gets one row per call;
  its parameters are counted on the first call only.
- Work done by a container's own `forward` (e.g. a functional matmul) gets a row named after the
  container with type "(functional)", so the totals always equal the whole model's.

Profiling on the meta device (`with torch.device("meta"): model = build()`) needs no real weights:
shapes, parameters and MACs are the same as on the CPU, and VGG-16's 528 MB are never allocated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

#: The sentence the UI shows next to every compute figure.
CONVENTION = ("multiply-adds (MACs); FLOPs = 2 × MACs; batch norm, activations, pooling and additions "
              "not counted")

BYTES_PER_VALUE = 4  # float32


@dataclass
class LayerRow:
    """One call of one layer.

    Attributes:
        name: the module's qualified name ("layer1.0.conv1"), with " (call k)" from the second call on.
        type: class name ("Conv2d"), or "(functional)" for work in a container's own forward.
        output_shape: shape of the (first) output tensor, batch included.
        params: parameters owned by the module (not its children), 0 after the first call.
        trainable_params: those of `params` with requires_grad.
        activation_bytes: float32 bytes of the output, 0 when it aliases the input.
        macs: multiply-accumulates of this call.
        aliases_input: True when the output shares storage with the input (in-place or view).
    """

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int = 0
    trainable_params: int = 0
    activation_bytes: int = 0
    macs: int = 0
    aliases_input: bool = False


@dataclass
class Profile:
    """The result of `profile()`: rows in execution order and their totals."""

    layers: list[LayerRow]
    input_shape: tuple[int, ...]
    batch_size: int
    output_shape: tuple[int, ...]
    params: int
    trainable_params: int
    macs: int = field(init=False)
    activation_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        self.macs = sum(r.macs for r in self.layers)
        self.activation_bytes = sum(r.activation_bytes for r in self.layers)

    @property
    def input_bytes(self) -> int:
        """float32 bytes of the input batch."""
        n = self.batch_size
        for s in self.input_shape:
            n *= s
        return n * BYTES_PER_VALUE

    def with_batch(self, batch_size: int) -> Profile:
        """The same profile at another batch size, without running the model again.

        Every counted operation (convolution, linear, matmul, attention) works on each input
        separately, so output shapes, activation bytes and MACs are proportional to the batch and
        parameters do not change (tests check this against `profile(..., batch_size=N)`). Exact when
        this profile's batch size divides the new one's contributions, as it does from batch 1.
        """
        if batch_size < 1:
            raise ValueError(f"Batch size {batch_size} must be positive.")
        n, d = batch_size, self.batch_size

        def scaled(shape: tuple[int, ...]) -> tuple[int, ...]:
            return (shape[0] * n // d, *shape[1:]) if shape else shape

        rows = [replace(r, output_shape=scaled(r.output_shape), activation_bytes=r.activation_bytes * n // d,
                        macs=r.macs * n // d) for r in self.layers]
        return Profile(rows, self.input_shape, batch_size, scaled(self.output_shape), self.params,
                       self.trainable_params)

    def to_frame(self) -> pd.DataFrame:
        """One row per layer call: name, type, output shape (as text), params, trainable params,
        activation bytes, MACs, aliases input."""
        return pd.DataFrame({
            "name": [r.name for r in self.layers],
            "type": [r.type for r in self.layers],
            "output shape": [" × ".join(map(str, r.output_shape)) for r in self.layers],
            "params": [r.params for r in self.layers],
            "trainable params": [r.trainable_params for r in self.layers],
            "activation bytes": [r.activation_bytes for r in self.layers],
            "MACs": [r.macs for r in self.layers],
            "aliases input": [r.aliases_input for r in self.layers],
        })

    def grouped(self, depth: int = 1) -> pd.DataFrame:
        """Sums per block: rows grouped by the first `depth` parts of their names.

        `depth=1` gives ResNet's conv1 ... layer1 ... layer4, fc; `depth=2` gives its blocks
        (layer1.0, layer1.1, ...). Groups keep execution order.
        """
        frame = self.to_frame()
        frame["group"] = [".".join(r.name.split(" ")[0].split(".")[:depth]) for r in self.layers]
        agg = frame.groupby("group", sort=False).agg(
            layers=("name", "size"), params=("params", "sum"), trainable_params=("trainable params", "sum"),
            activation_bytes=("activation bytes", "sum"), macs=("MACs", "sum"),
            output_shape=("output shape", "last"))
        agg = agg.reset_index().rename(columns={
            "trainable_params": "trainable params", "activation_bytes": "activation bytes", "macs": "MACs",
            "output_shape": "output shape"})
        return agg


def _tensors(obj) -> list[torch.Tensor]:
    """All tensors in a (nested) output: tensor, tuple, list, dict or namedtuple."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _tensors(item)]
    return []


def _storage_id(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata


class _MacCounter(TorchDispatchMode):
    """Adds each op's FLOPs (flop_counter's formulas) / 2 to the row that is currently running."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[list[int]] = [[0]]  # one MAC accumulator per open module call

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            flops = count(*args, **kwargs, out_val=out)
            assert flops % 2 == 0, f"{func} counted an odd number of FLOPs"
            self.stack[-1][0] += flops // 2
        return out


def profile(model: nn.Module, input_shape: tuple[int, ...] = (3, 224, 224), batch_size: int = 1) -> Profile:
    """Profile one forward pass of `model` on a zero input of shape (batch_size, *input_shape).

    Args:
        model: any module. It runs on the device of its parameters (build it under
            `torch.device("meta")` to allocate nothing). Its hooks are removed afterwards and
            its mode (train/eval) is left as it was: profile eval-mode models for inference figures.
        input_shape: (C, H, W) of one input, or any shape the model takes without the batch.
        batch_size: N, the number of inputs in the batch (activation memory and MACs scale with it).

    Returns:
        A `Profile` whose rows follow execution order.

    Raises:
        ValueError: the shapes are not positive, or the model cannot take this input (the message
            names the layer that failed and the shape it got).
    """
    if batch_size < 1 or any(int(s) < 1 for s in input_shape):
        raise ValueError(f"Input shape {tuple(input_shape)} and batch size {batch_size} must be positive.")
    first = next(iter(model.parameters()), None)
    first = first if first is not None else next(iter(model.buffers()), None)
    device = first.device if first is not None else torch.device("meta")
    x = torch.zeros((batch_size, *map(int, input_shape)), device=device)

    names: dict[nn.Module, str] = {}
    for n, m in model.named_modules(remove_duplicate=False):
        names.setdefault(m, n)  # a module registered twice is named where it first appears
    rows: list[LayerRow] = []
    calls: dict[nn.Module, int] = {}
    counted: set[int] = set()  # ids of parameters already attributed (shared weights count once)
    counter = _MacCounter()
    open_calls: list[tuple[nn.Module, list[int], int]] = []  # (module, accumulator, row insert index)
    failing: list[str] = []

    def own_params(module: nn.Module) -> tuple[int, int]:
        total = trainable = 0
        for p in module.parameters(recurse=False):
            if id(p) not in counted:
                counted.add(id(p))
                total += p.numel()
                trainable += p.numel() if p.requires_grad else 0
        return total, trainable

    def pre_hook(module: nn.Module, args) -> None:
        acc = [0]
        counter.stack.append(acc)
        open_calls.append((module, acc, len(rows)))
        failing.append(names.get(module, type(module).__name__))

    def post_hook(module: nn.Module, args, output) -> None:
        failing.pop()
        _, acc, insert_at = open_calls.pop()
        counter.stack.pop()
        calls[module] = calls.get(module, 0) + 1
        name = names.get(module, "") or "(model)"
        if calls[module] > 1:
            name = f"{name} (call {calls[module]})"
        is_leaf = next(iter(module.children()), None) is None
        params, trainable = own_params(module)
        if not is_leaf:
            # Only a container's own work becomes a row; its children already have theirs.
            if acc[0] or params:
                rows.insert(insert_at, LayerRow(f"{name}", "(functional)", (), params, trainable, 0, acc[0]))
            return
        outs = _tensors(output)
        ins = {_storage_id(t) for t in _tensors(args)}
        aliases = bool(outs) and all(_storage_id(t) in ins for t in outs)
        nbytes = 0 if aliases else sum(t.numel() for t in outs) * BYTES_PER_VALUE
        shape = tuple(outs[0].shape) if outs else ()
        rows.append(LayerRow(name, type(module).__name__, shape, params, trainable, nbytes, acc[0], aliases))

    handles = []
    for module in names:
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook))
    try:
        with torch.enable_grad(), counter:
            out = model(x)
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        where = failing[-1] if failing else "the model"
        raise ValueError(f"Layer {where!r} cannot take the input of shape "
                         f"{tuple(x.shape)} given to the model: {str(exc).splitlines()[0]}") from exc
    finally:
        for h in handles:
            h.remove()
    # Parameters never reached by the forward pass (e.g. inception_v3's auxiliary head in eval mode).
    unused = sum(p.numel() for p in model.parameters() if id(p) not in counted)
    unused_trainable = sum(p.numel() for p in model.parameters() if id(p) not in counted and p.requires_grad)
    if unused:
        rows.append(LayerRow("(not run in this mode)", "(unused)", (), unused, unused_trainable, 0, 0))
    outs = _tensors(out)
    return Profile(layers=rows, input_shape=tuple(int(s) for s in input_shape), batch_size=batch_size,
                   output_shape=tuple(outs[0].shape) if outs else (),
                   params=sum(r.params for r in rows), trainable_params=sum(r.trainable_params for r in rows))
