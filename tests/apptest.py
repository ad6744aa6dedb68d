"""Helper for AppTest page tests: run the real router on one page, optionally with a query string."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds for one script run; the first run of a page loads its model


def open_page(path: str, **query: str) -> AppTest:
    """Run `streamlit_app.py` switched to `path` (e.g. "app_pages/zoo.py") with URL query parameters."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.run()  # registers the router's pages: before that, a page whose url_path differs from its file name is unknown
    at.switch_page(path)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()
