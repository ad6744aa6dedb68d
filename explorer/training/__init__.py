"""Transfer learning: run settings, the trainer and its four strategies, data sets, augmentation, runs as Dask tasks."""
