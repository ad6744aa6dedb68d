"""explorer.attribution.sanity_checks: the cascading randomization test and RISE's deletion/insertion, on the real Lite0."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from explorer.attribution import methods as attr
from explorer.attribution import sanity_checks
from explorer.models import zoo
from explorer.runtime import batches
from explorer.attribution import baselines

LITE_BLOCKS = ["classifier.1", "features.8", "features.7", "features.6", "features.5", "features.4", "features.3",
               "features.2", "features.1", "features.0"]


@pytest.mark.parametrize("method", ["saliency", "grad_cam"])
def test_randomization_lowers_the_correlation_of_saliency_and_grad_cam(lite0, cat, method):
    before = {k: v.clone() for k, v in lite0.model.state_dict().items()}
    cascades = [sanity_checks.model_randomization(lite0, cat, method, seed=seed) for seed in range(4)]
    steps = cascades[0]
    assert [block for block, _ in steps] == LITE_BLOCKS  # top block first; unpacks as (block, spearman)
    assert all(s.map.shape == (224, 224) for s in steps)
    # One draw of random weights can leave a map close to the trained one at one step (Grad-CAM with a random
    # classifier: ρ = 0.52 for seed 0, against the 0.5 threshold); over draws, the maps change.
    assert sum(sanity_checks.passes_randomization(c) for c in cascades) >= 3
    assert sum(s.changed for c in cascades for s in c[:5]) >= 18  # of 20 steps
    assert all(torch.equal(before[k], v) for k, v in lite0.model.state_dict().items())  # it worked on a copy


def test_guided_grad_cam_fails_the_randomization_test(lite0, cat):
    steps = sanity_checks.model_randomization(lite0, cat, "guided_grad_cam")
    assert not sanity_checks.passes_randomization(steps)
    assert max(rho for _, rho in steps[:5]) > 0.8  # with the head and last stage random, it barely changes


def test_the_same_seed_gives_the_same_cascade(lite0, cat):
    a = sanity_checks.model_randomization(lite0, cat, "grad_cam", seed=3)
    b = sanity_checks.model_randomization(lite0, cat, "grad_cam", seed=3)
    np.testing.assert_array_equal([s.spearman for s in a], [s.spearman for s in b])  # a blank map's ρ is NaN


def test_grad_cam_deletion_and_insertion_beat_its_inverse_map(lite0, cat):
    cam = attr.attribute(lite0, cat, "grad_cam")
    result = sanity_checks.deletion_insertion(lite0, cat, cam, steps=16)
    deletion, insertion = result  # unpacks as the map's own areas
    assert deletion < result.auc("deletion", "inverse")
    assert insertion > result.auc("insertion", "inverse")
    assert result.beats_inverse
    assert set(result.curves) == {(k, o) for k in sanity_checks.KINDS for o in sanity_checks.ORDERS}


def test_deletion_and_insertion_curves_start_and_end_where_the_model_says(lite0, cat):
    cam = attr.attribute(lite0, cat, "grad_cam")
    result = sanity_checks.deletion_insertion(lite0, cat, cam, steps=4)
    x = lite0.transform(cat)[None]

    def p(batch):
        with torch.inference_mode():
            return float(torch.softmax(lite0.model(batch), 1)[0, cam.target])

    assert result.fractions.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    for order in sanity_checks.ORDERS:
        assert result.curves[("deletion", order)][0] == pytest.approx(cam.probability, abs=1e-5)
        assert result.curves[("deletion", order)][-1] == pytest.approx(p(torch.zeros_like(x)), abs=1e-5)
        assert result.curves[("insertion", order)][0] == pytest.approx(p(baselines.blurred(x)), abs=1e-5)
        assert result.curves[("insertion", order)][-1] == pytest.approx(cam.probability, abs=1e-5)
    assert result.auc("deletion") == pytest.approx(np.trapezoid(result.curves[("deletion", "map")], result.fractions))


def test_spearman_is_scipys_on_absolute_values_and_nan_when_blank():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    a[:2] = 0.0  # ties
    assert sanity_checks.spearman(a, b) == pytest.approx(spearmanr(np.abs(a).ravel(), np.abs(b).ravel()).statistic)
    assert math.isnan(sanity_checks.spearman(np.zeros((4, 4)), b[:4, :4]))
    blank = sanity_checks.RandomizationStep("fc", float("nan"), np.zeros((2, 2)))
    assert blank.changed


def test_cascade_blocks_follow_the_forward_pass():
    model = zoo.load("resnet18", pretrained=False).model
    assert sanity_checks.cascade_blocks(model, torch.zeros(1, 3, 64, 64)) == [
        "conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]


def test_bad_input_to_the_checks(lite0, cat):
    cam = attr.attribute(lite0, cat, "grad_cam")
    small = attr.Attribution(np.zeros((32, 32), np.float32), "grad_cam", 1, "x", 0.5, {}, 0.0, "positive")
    with pytest.raises(ValueError, match="32×32 but this model sees 224×224"):
        sanity_checks.deletion_insertion(lite0, cat, small)
    stop = threading.Event()
    stop.set()
    with pytest.raises(batches.Cancelled):
        sanity_checks.deletion_insertion(lite0, cat, cam, cancel=stop)
    with pytest.raises(batches.Cancelled):
        sanity_checks.model_randomization(lite0, cat, "grad_cam", cancel=stop)
    with pytest.raises(ValueError, match="reference map was made with grad_cam"):
        sanity_checks.model_randomization(lite0, cat, "saliency", reference=cam)
