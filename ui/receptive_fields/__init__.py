"""The receptive-fields page: the network, one unit, the effective field, the toy stack, and their cached data."""
