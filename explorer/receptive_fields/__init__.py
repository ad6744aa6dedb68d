"""Receptive fields: exact fields read from a model's torch.fx graph, the lecture's toy stack, the effective field."""
