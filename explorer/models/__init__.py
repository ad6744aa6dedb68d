"""The models every page uses: the registry, pretrained weights, loading, layer inspection and the one model store."""
