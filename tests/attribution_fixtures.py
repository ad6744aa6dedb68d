"""Fixtures shared by the attribution tests (imported by name into each test module)."""

from __future__ import annotations

import pytest
import torch

from explorer import images
from explorer.models import zoo


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as the server runs: two spin-wait whenever the machine is busy (DESIGN.md section 4)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lite():
    return zoo.load("efficientnet_lite0")


@pytest.fixture(scope="module")
def cat():
    return images.sample_image("chelsea (cat)")
