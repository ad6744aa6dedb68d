"""A Dask scheduler of its own for the class-store tests (no workers: classes are scheduler metadata only)."""

import pytest
from distributed import Client, LocalCluster


@pytest.fixture(scope="module")
def client():
    """A client of a fresh in-process scheduler without workers, as a second replica would see one."""
    with LocalCluster(processes=False, n_workers=0, dashboard_address=None,
                      scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as local, Client(local, set_as_default=False) as c:
        yield c
