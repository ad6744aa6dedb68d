"""Shared test setup: no downloads, a private torch hub cache, the repository on sys.path, and a Dask cluster."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Tests never reach for the network, and a developer's own torch hub cache must not change
# what they see: point TORCH_HOME at an empty folder unless a test sets its own.
os.environ.setdefault("CNN_EXPLORER_OFFLINE", "1")
os.environ.setdefault("TORCH_HOME", str(ROOT / ".pytest_cache" / "torch_home"))

# The tests run under the app's process-wide torch setting: one thread per computation, set once
# where the process starts (explorer.runtime.cluster.set_process_threads).
from explorer.runtime import cluster  # noqa: E402

cluster.set_process_threads()


@pytest.fixture(scope="session")
def dask_cluster():
    """`dask scheduler` and two `dask worker --resources train=1` processes on localhost, started
    once for the tests of the distributed path (tests/dask_cluster.py)."""
    from tests.dask_cluster import local_dask  # noqa: PLC0415 - only the tests that use it start it

    with local_dask(workers=2, train=1) as running:
        yield running
