"""The convolution-arithmetic page: its widgets (bound to the URL) and sections."""
