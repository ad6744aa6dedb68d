"""The attributions page: the model, image and class, the maps, and the sanity checks."""
