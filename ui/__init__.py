"""Streamlit: one package per page, plus the helpers the pages share (the only place besides app_pages/ that imports
streamlit)."""
