"""The filters-and-feature-maps page's sections."""
