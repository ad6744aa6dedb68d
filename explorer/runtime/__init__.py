"""Where heavy work runs: the Dask cluster (embedded by default), tasks with progress and cancel, batches, a side process."""
