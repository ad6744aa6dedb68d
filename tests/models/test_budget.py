"""explorer.models.budget: what a network from an address may cost, counted on the meta device, refused in one
sentence; and every network text a link can carry (custom_net.from_config) ends in a network or a ValueError."""

from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.architecture.profiling import profile
from explorer.models import budget, custom_net as cn, registry
from tests.pages.addresses import NETWORKS


def _meta(name: str) -> torch.nn.Module:
    with torch.device("meta"):
        return registry.build(name)


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "resnet18", "efficientnet_lite0", "mobilenet_v2"])
def test_footprint_counts_what_the_architectures_page_profiles(name):
    """The Architectures page's profile (checked against torch's own counts in tests/architecture) is the oracle."""
    entry = registry.info(name)
    shape = (entry.in_channels, entry.input_size, entry.input_size)
    fp = budget.footprint(_meta(name), shape)
    prof = profile(_meta(name), shape)
    assert fp.params == prof.params and fp.activations == prof.activation_bytes // 4 and fp.input_shape == shape


def test_footprint_needs_a_meta_model_and_an_input_it_can_take():
    with pytest.raises(ValueError, match="meta device"):
        budget.footprint(registry.build("lenet5"), (1, 32, 32))
    with pytest.raises(ValueError, match="cannot take a 1×4×4 input"):
        budget.footprint(_meta("lenet5"), (1, 4, 4))


def test_an_input_too_large_names_the_largest_side_that_fits():
    entry = registry.info("vgg16")
    fp = budget.footprint(_meta("vgg16"), (3, 1024, 1024))
    with pytest.raises(budget.BudgetError) as caught:
        budget.check_activations(fp, "VGG-16 at 1024×1024 px")
    side = budget.largest_side(fp)
    assert f"use an input of at most {side} px" in str(caught.value) and "50 M per picture" in str(caught.value)
    assert budget.check_activations(budget.footprint(_meta("vgg16"), (3, side, side))).activations <= budget.MAX_ACTIVATIONS
    assert budget.footprint(_meta("vgg16"), (3, side + 32, side + 32)).activations > budget.MAX_ACTIVATIONS
    assert budget.check_activations(budget.footprint(_meta("vgg16"), (3, entry.input_size, entry.input_size)))


def test_parameters_and_input_over_the_budget_are_refused_in_one_sentence():
    with pytest.raises(budget.BudgetError, match="138,357,544 parameters; this server builds at most 50,000,000"):
        budget.check(budget.footprint(_meta("vgg16"), (3, 224, 224)), "VGG-16")
    for shape in [(65, 8, 8), (3, 1025, 8), (64 * 1024 * 1024 + 1,)]:
        with pytest.raises(budget.BudgetError, match="make the input smaller"):
            budget.check_input(shape)
    budget.check_input((64, 1024, 1024))


def test_a_link_that_asked_for_12_gib_is_refused_before_anything_is_built():
    """Issue 19: this rf_net was accepted and building it took 12 GiB."""
    with pytest.raises(ValueError, match="size must be at most 65,536"):
        cn.from_config("3x64x64:Conv2d-8-3-1-1_ReLU_Flatten_Linear-100000")
    with pytest.raises(budget.BudgetError, match="parameters; this server builds at most 50,000,000"):
        cn.from_config("3x64x64:Conv2d-8-3-1-1_ReLU_Flatten_Linear-65536")
    with pytest.raises(budget.BudgetError, match="activation values per image"):
        cn.from_config("3x1024x1024:" + "_".join(["Conv2d-64-3-1-1"] * 2))


def test_layers_are_counted_and_their_numbers_bounded():
    assert len(cn.from_text("_".join(["ReLU"] * budget.MAX_LAYERS))) == budget.MAX_LAYERS
    with pytest.raises(cn.LayerShapeError, match=f"101 layers; at most {budget.MAX_LAYERS}"):
        cn.from_text("_".join(["ReLU"] * (budget.MAX_LAYERS + 1)))
    with pytest.raises(cn.LayerShapeError, match="at most 4,000 are read"):
        cn.from_text("ReLU_" * 1000)
    for text, field in [("Conv2d-8-3-1-1025", "padding"), ("Conv2d-8-3-9" + "9" * 30 + "-0", "stride"),
                        ("MaxPool2d-2000-1-0", "kernel")]:
        with pytest.raises(cn.LayerShapeError, match=f"{field} must be at most"):
            cn.from_text(text)
    with pytest.raises(cn.LayerShapeError, match="whole number"):
        cn.build_with_shapes([{"layer": "Conv2d", "size": float("inf")}], (1, 8, 8))


@pytest.mark.parametrize("text", NETWORKS)
def test_every_hostile_network_text_is_read_or_refused_quickly(text):
    start = time.perf_counter()
    try:
        spec, shape = cn.from_config(text)
    except ValueError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
    else:
        with torch.device("meta"):
            fp = budget.footprint(cn.build(spec, shape), shape)
        assert fp.params <= budget.MAX_PARAMS and fp.activations <= budget.MAX_ACTIVATIONS
    assert time.perf_counter() - start < 5


def test_every_zoo_model_fits_at_its_own_input_size():
    """The budget refuses sizes from an address, never a page's defaults."""
    for name in registry.list_models():
        entry = registry.info(name)
        fp = budget.footprint(_meta(name), (entry.in_channels, entry.input_size, entry.input_size))
        assert budget.check_activations(fp).activations <= budget.MAX_ACTIVATIONS, name


_NUMBER = st.one_of(st.integers(-3, 40), st.integers(0, 10**30), st.sampled_from(["nan", "inf", "1e400", "-0", "x"]))


@st.composite
def _network_texts(draw) -> str:
    """Network texts as a link may carry them: any layer type, any count of any numbers, any input shape."""
    layers = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from([*cn.FIELDS, "Bogus"]))
        count = len(cn.FIELDS.get(kind, ())) + draw(st.sampled_from([0, 0, 0, -1, 1]))
        layers.append("-".join([kind, *(str(draw(_NUMBER)) for _ in range(max(0, count)))]))
    shape = "x".join(str(draw(st.integers(0, 2048))) for _ in range(draw(st.sampled_from([1, 2, 3, 3, 3]))))
    return f"{shape}:{'_'.join(layers)}"


@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(text=_network_texts())
def test_any_network_text_builds_within_the_budget_or_gets_a_value_error(text):
    try:
        spec, shape = cn.from_config(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    with torch.device("meta"):
        fp = budget.footprint(cn.build(spec, shape), shape)
    assert fp.params <= budget.MAX_PARAMS and fp.activations <= budget.MAX_ACTIVATIONS
