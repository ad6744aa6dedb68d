"""Hostile links: every page opened with generated addresses (Hypothesis over its keys and hostile values) shows no
exception and finishes in bounded time; markup in any address value is shown escaped, never rendered.

A few examples per page here (derandomized: the same ones on every run, so the suite stays under a minute);
`bench/hostile_links.py` sends hundreds per page to a real server and measures its memory.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pages.addresses import HOSTILE, MARKUP, page_keys
from tests.pages.apptest import open_page
from ui.catalog import HOME, PAGES
from ui.safe_text import md

ENTRIES = [HOME, *PAGES]
RUN_LIMIT_S = 60  # one opening of a page; the benchmark measures the real times (a few seconds at most)
TEXT = ("markdown", "caption", "info", "warning", "error", "success")


def _addresses(url_path: str) -> st.SearchStrategy[dict]:
    """4 to 12 of the page's keys (or stray ones), each with a hostile value, free text, or repeated values."""
    keys = sorted(set(page_keys(url_path)) | {"x", "y", "embed", "__proto__"})
    value = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40),
                      st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=3))
    return st.dictionaries(st.sampled_from(keys), value, min_size=4, max_size=12)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.url_path)
def test_generated_hostile_addresses_never_show_an_exception(entry):
    @settings(max_examples=4, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(query=_addresses(entry.url_path))
    def opened(query: dict) -> None:
        start = time.perf_counter()
        at = open_page(entry.path, **query)
        took = time.perf_counter() - start
        assert not at.exception, (query, [e.message for e in at.exception])
        assert took < RUN_LIMIT_S, (query, took)
        assert at.title and at.title[0].value == ("CNN Explorer" if entry is HOME else entry.title)

    opened()


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.url_path)
def test_markup_in_the_address_is_shown_escaped_never_rendered(entry):
    """Links, images, headings, HTML, directives and maths through every key of the page: none of them reaches
    the page's markdown as written; the sentences about them carry the escaped text."""
    keys = page_keys(entry.url_path)
    for shift in range(2):  # each key gets two different kinds of markup
        query = {key: MARKUP[(i + shift) % len(MARKUP)] for i, key in enumerate(keys)}
        at = open_page(entry.path, **query)
        assert not at.exception, [e.message for e in at.exception]
        texts = [e.value for kind in TEXT for e in at.get(kind)]
        for markup in MARKUP:  # present only in its escaped form, if at all
            assert not any(markup in t.replace(md(markup), "") for t in texts), markup
        shown = " ".join(texts)
        named = [value for value in query.values() if md(value) in shown]
        assert named or not keys or entry is HOME, "no address value was named in a sentence"
