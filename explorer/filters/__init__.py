"""Filters and feature maps: the lecture's classic kernels, a network's learned filters and feature maps, and their figures."""
