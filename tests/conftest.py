"""Shared test setup: no downloads, a private torch hub cache and temporary folder, the app's thread setting, and
the fixtures more than one folder uses (Lite0, the gallery cat, the demo shapes, a Dask cluster of real processes)."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The tests see the same machine whatever the developer's environment says (set, not setdefault): they never
# reach for the network, read a torch hub cache of their own (empty: a developer's cached torchvision weights
# would turn "untrained here" models into trained ones), write their temporary files into a folder of their
# own (the servers they start inherit both), and run jobs on the embedded cluster unless a test asks for another.
_OWN = Path(tempfile.mkdtemp(prefix="cnn-explorer-tests-"))
atexit.register(shutil.rmtree, _OWN, ignore_errors=True)
(_OWN / "torch_home").mkdir()
(_OWN / "tmp").mkdir()
os.environ["CNN_EXPLORER_OFFLINE"] = "1"
os.environ["TORCH_HOME"] = str(_OWN / "torch_home")
os.environ["TMPDIR"] = str(_OWN / "tmp")
tempfile.tempdir = None  # read TMPDIR again
os.environ.pop("CNN_EXPLORER_DASK_SCHEDULER", None)

# The tests run under the app's process-wide torch setting: one thread per computation, set once
# where the process starts (explorer.runtime.cluster.set_process_threads).
from explorer.runtime import cluster  # noqa: E402

cluster.set_process_threads()


@pytest.fixture(scope="session")
def lite0():
    """EfficientNet-Lite0 with its ImageNet weights (shared by the session's tests; never mutate it)."""
    from explorer.models import zoo  # noqa: PLC0415

    return zoo.load("efficientnet_lite0")


@pytest.fixture(scope="session")
def cat():
    """The gallery's cat photo (skimage's chelsea)."""
    from explorer import images  # noqa: PLC0415

    return images.sample_image("chelsea (cat)")


@pytest.fixture(scope="session")
def shapes():
    """The generated demo shapes, 8 per class at 48 px, split 75/25: (data set, train, val)."""
    from explorer.training import datasets  # noqa: PLC0415

    data = datasets.demo_shapes(8, size=48)
    train, val = datasets.split(data, 0.25, seed=0)
    return data, train, val


@pytest.fixture(scope="session")
def dask_cluster():
    """`dask scheduler` and two `dask worker --resources train=1` processes on localhost, started
    once for the tests of the distributed path (tests/dask_cluster.py)."""
    from tests.dask_cluster import local_dask  # noqa: PLC0415 - only the tests that use it start it

    with local_dask(workers=2, train=1) as running:
        yield running


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache of this test's own (TORCH_HOME): its checkpoints folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    return checkpoints
