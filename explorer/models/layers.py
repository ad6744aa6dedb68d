"""Layer inspection: which conv layers, blocks and stages a network has, and each one's output shape.

Which layers are offered (the Filters, Receptive-fields and Attributions pages all use this table):
- every `nn.Conv2d` ("conv": the raw convolution output, before batch norm and activation);
- the *stages* of the network: the direct children of its trunk (`model.features` when the
  model has one, else the model itself) that contain a convolution (ResNet's `layer1`, the
  Lite stages `features.3`, VGG's conv layers, Inception's `Mixed_5b`, ...);
- the *blocks* inside a stage that is a container (`layer1.0`, `features.3.1`, ...).
Their order is the order in which their forward passes finish, which is the order of the
data through the network. The table is computed on a copy of the architecture built on the
`meta` device: shapes only, no weights, no compute, and the shared model is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from explorer.models import zoo
from explorer.models import registry


@dataclass(frozen=True)
class LayerInfo:
    """One layer the page can show.

    Attributes:
        name: dotted module name, e.g. "features.3.1" (as `model.get_submodule` takes it).
        kind: "conv", "block" or "stage" (see the module docstring).
        module_type: class name, e.g. "Conv2d", "MBConv", "BasicBlock".
        shape: output shape (C, H, W) for one input image at the model's input size.
    """

    name: str
    kind: str
    module_type: str
    shape: tuple[int, int, int]

    @property
    def label(self) -> str:
        """"features.3 · stage · 40×28×28": the name, the kind and the output shape."""
        c, h, w = self.shape
        return f"{self.name} · {self.kind} · {c}×{h}×{w}"



def _has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())



def trunk_name(model: nn.Module) -> str:
    """"features" when the model keeps its convolutions in `model.features`, else "" (the model itself)."""
    features = getattr(model, "features", None)
    return "features" if isinstance(features, nn.Module) and _has_conv(features) else ""



def layer_kinds(model: nn.Module) -> dict[str, str]:
    """name -> "stage" | "block" | "conv" for the layers `layer_table` offers, for any model (the
    Architectures page's network too), in definition order; `layer_table` keeps those that run."""
    trunk = trunk_name(model)
    prefix = f"{trunk}." if trunk else ""
    trunk_module = model.get_submodule(trunk)
    kinds: dict[str, str] = {}
    for child_name, child in trunk_module.named_children():
        if not _has_conv(child):
            continue
        stage = prefix + child_name
        kinds[stage] = "stage"
        if isinstance(child, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            for block_name, block in child.named_children():
                if _has_conv(block) and not isinstance(block, nn.Conv2d):
                    kinds[f"{stage}.{block_name}"] = "block"
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            kinds.setdefault(name, "conv")
    return kinds







def layer_table(loaded: zoo.LoadedModel) -> list[LayerInfo]:
    """Every conv layer, block and stage of `loaded`'s architecture, in network order, with its output shape.

    Computed on the `meta` device from a fresh build of the same architecture, so it costs no
    compute (0.01-0.6 s of Python) and never touches `loaded.model`. Modules that do not run in
    eval mode (Inception v3's auxiliary head) are left out.
    """
    num_classes = len(loaded.labels) if loaded.labels else None
    with torch.device("meta"):
        model = registry.build(loaded.name, num_classes=num_classes)
    return module_layer_table(model, loaded.info.input_shape)



def module_layer_table(model: nn.Module, input_shape: tuple[int, int, int]) -> list[LayerInfo]:
    """`layer_table` of any network (e.g. a trained model's architecture built on the `meta` device).

    Args:
        model: the network; build it under `torch.device("meta")` to skip all compute.
        input_shape: (C, H, W) of one input.
    """
    device = next(iter(model.parameters()), torch.empty(0)).device
    kinds = layer_kinds(model)
    fired: list[LayerInfo] = []
    seen: set[str] = set()

    def record(name: str, module: nn.Module, output: object) -> None:
        if name not in seen and torch.is_tensor(output) and output.dim() == 4:
            seen.add(name)
            fired.append(LayerInfo(name, kinds[name], type(module).__name__, tuple(output.shape[1:])))

    handles = [model.get_submodule(name).register_forward_hook(
        lambda module, args, output, name=name: record(name, module, output)) for name in kinds]
    try:
        with torch.inference_mode():
            model(torch.empty(1, *input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return fired



def layer_names(loaded: zoo.LoadedModel) -> list[str]:
    """Names of the conv layers, blocks and stages of `loaded`, in network order (see `layer_table`)."""
    return [layer.name for layer in layer_table(loaded)]



def layer_shapes(loaded: zoo.LoadedModel) -> dict[str, tuple[int, int, int]]:
    """name -> output shape (C, H, W) for one image at the model's input size, in network order."""
    return {layer.name: layer.shape for layer in layer_table(loaded)}



def default_layer(table: list[LayerInfo]) -> str:
    """A stage about a third of the way in: past the edge detectors, with maps still 28-56 px wide."""
    stages = [layer.name for layer in table if layer.kind == "stage"]
    return stages[len(stages) // 3] if stages else table[0].name
