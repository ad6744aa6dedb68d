"""The architectures page: one model, comparison, lecture tables and calculators, build your own."""
