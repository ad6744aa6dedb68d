"""Architectures: per-layer profiles (parameters, memory, multiply-adds), comparisons, calculators, lecture tables."""
