"""CNN Explorer's backend: plain PyTorch code that the pages, the tests and notebooks share.

It never imports streamlit. Start with `explorer.models.zoo` (models) and `explorer.images` (photos).
"""
