"""Convolution arithmetic: output sizes, numeric convolution, pooling and transposed convolution, the conv page's worked example and its figures."""
