"""Helpers for AppTest page tests: run the real router on one page, and read what a student would read."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # seconds for one script run; the first run of a page loads its model


def open_page(path: str, **query: str) -> AppTest:
    """Run `streamlit_app.py` switched to `path` (e.g. "app_pages/zoo.py") with URL query parameters."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.run()  # registers the router's pages: before that, a page whose url_path differs from its file name is unknown
    at.switch_page(path)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def page_text(at: AppTest) -> str:
    """Every markdown, caption and alert on the page, joined by spaces."""
    return " ".join(e.value for kind in ("markdown", "caption", "info", "warning", "error", "success")
                    for e in at.get(kind))


def chart_titles(at: AppTest) -> list[str]:
    """The title of every Plotly chart on the page, in order, without a <b>…</b> around it, on one line."""
    out = []
    for chart in at.get("plotly_chart"):
        title = json.loads(chart.proto.spec).get("layout", {}).get("title", {})
        out.append((title.get("text", "") if isinstance(title, dict) else str(title))
                   .removeprefix("<b>").removesuffix("</b>").replace("<br>", " "))  # wrapped by `presenter.figure`
    return out
