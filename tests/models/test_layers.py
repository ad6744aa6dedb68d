"""explorer.models.layers: the layer table of a model matches what a real forward pass runs, in order."""

import torch
from torch import nn

from explorer.filters import feature_maps
from explorer.models import layers


def test_layer_table_matches_a_real_forward_pass(lite0, cat):
    table = layers.layer_table(lite0)
    shapes, order = {}, []

    def record(name, out):  # returns None: the output is left as it is
        order.append(name)
        shapes[name] = tuple(out.shape[1:])

    handles = [lite0.model.get_submodule(layer.name).register_forward_hook(
        lambda mod, args, out, n=layer.name: record(n, out)) for layer in table]
    try:
        with torch.inference_mode():
            lite0.model(feature_maps.preprocess(lite0, cat))
    finally:
        for h in handles:
            h.remove()
    assert [layer.name for layer in table] == order == layers.layer_names(lite0)
    assert {layer.name: layer.shape for layer in table} == shapes
    kinds = {layer.name: layer.kind for layer in table}
    assert kinds["features.0.conv"] == "conv" and kinds["features.3.1"] == "block" and kinds["features.3"] == "stage"
    assert sum(k == "conv" for k in kinds.values()) == sum(isinstance(m, nn.Conv2d) for m in lite0.model.modules())
