"""A page address is input: a value the page cannot use gets one sentence and the setting's default, never an
exception. The router calls `opened()` before the page runs and `Check.report` after it (whatever ends it).

Streamlit seeds every widget bound to the address (`bind="query-params"`) when a page opens. A value the widget
cannot take (an unknown option, a number out of range, a list with unknown items) is dropped or clamped
silently, and a whole-number `st.number_input` raises on "inf", "1e400" or a 400-digit number (Streamlit 1.67
parses it as a float, then `int(inf)` raises an OverflowError its own parser does not catch). So:

- Before the page: a value that reads as a number but is not finite (nan, inf, 1e400, 400 digits) is no
  setting of this app. It leaves the address, and the script runs again at once with the clean address
  (widgets are seeded from the address a run starts with).
- After the page, on the run that opened it: every setting whose widget did not keep the address's value gets
  one sentence at the top of the page, with the value (escaped: `ui.safe_text.md`) and what is shown instead.
  Keys a page reads and explains itself (a model name, a network, a unit) are marked with `handled(key)`.
Later runs (clicks) change settings on purpose, so they are not checked.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException

from ui.safe_text import md

_PENDING = "address_notes"  # sentences waiting for the run after an st.rerun()
_PAGE = "address_page"  # the page of the last run: a different one now means the address was just opened
_CHECK = "address_check"  # this run's Check, for `handled`


def _not_finite(value: str) -> bool:
    """True for text that Python reads as a float that is not finite ("nan", "-inf", "1e400", 400 nines)."""
    try:
        return not math.isfinite(float(value))
    except (ValueError, OverflowError):
        return False


def _same(raw: list[str], value: object) -> bool:
    """Whether the address values `raw` say what the widget now holds (`value`), written any way Streamlit
    accepts: "3.0" for 3, "TRUE" for True, "90%" for 90, repeated keys for a list."""
    if isinstance(value, (list, tuple)):
        return len(raw) == len(value) and all(_same([r], v) for r, v in zip(raw, value))
    if len(raw) != 1:
        return False
    text = raw[0].strip()
    if isinstance(value, bool):
        return text.lower() == str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return float(text.rstrip("%")) == float(value)
        except ValueError:
            return False
    return text == str(value)


def _shown(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "nothing"
    return "nothing" if value is None else str(value)


def sentence(key: str, raw: list[str] | str, instead: str) -> str:
    """One sentence about an address value the page cannot use (markdown: each value escaped on its own)."""
    values = " & ".join(f"“{md(v)}”" for v in (raw if isinstance(raw, list) else [raw]))
    return f"The address sets {md(key, 40)} to {values}, which this page cannot use: {instead}."


@dataclass
class Check:
    """The address as this run received it, and the keys the page explained itself."""

    raw: dict[str, list[str]]
    opened: bool  # the first run of this page since the student arrived on it
    slot: object  # the container at the top of the page that receives the sentences
    notes: list[str] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)

    def report(self) -> None:
        """Compare the address with what the widgets hold, and write the sentences (or keep them for the run
        after an `st.rerun()`)."""
        if self.opened:
            for key, raw in self.raw.items():
                if key in self.handled or key not in st.session_state:
                    continue  # the page said it itself, or no widget of this page has this key
                if st.query_params.get_all(key) == raw:
                    continue  # kept as written
                value = st.session_state[key]
                if value is None:  # an empty choice: the page falls back on the setting's default
                    self.notes.append(sentence(key, raw, "the setting starts at its default"))
                elif not _same(raw, value):
                    self.notes.append(sentence(key, raw, f"it shows {md(_shown(value))} instead"))
        if isinstance(sys.exc_info()[1], RerunException):
            st.session_state[_PENDING] = self.notes
            return
        for note in dict.fromkeys(self.notes):
            self.slot.warning(note, icon=":material/link_off:")


def opened(page: str) -> Check:
    """Before the page `page` (its url path) runs: drop non-finite numbers from the address (then rerun), and
    start this run's Check, whose sentences go into a container placed here, at the top of the page."""
    raw = {key: st.query_params.get_all(key) for key in st.query_params}
    check = Check(raw, st.session_state.get(_PAGE) != page, st.container(), st.session_state.pop(_PENDING, []))
    st.session_state[_PAGE] = page
    st.session_state[_CHECK] = check
    bad = {key: values for key, values in raw.items() if any(map(_not_finite, values))}
    dropped = False
    for key, values in bad.items():
        try:
            del st.query_params[key]
        except Exception:  # noqa: BLE001 - StreamlitAPIException: bound already; Streamlit then drops it itself
            continue
        check.notes.append(sentence(key, values, "it is not a number, so the setting starts at its default"))
        dropped = True
    if dropped:
        st.session_state[_PENDING] = check.notes
        st.session_state.pop(_PAGE)  # the clean run opens the page again
        st.rerun()
    return check


def handled(key: str) -> None:
    """The page explains the address's `key` itself (or takes it as it is): `Check.report` leaves it alone."""
    check = st.session_state.get(_CHECK)
    if check is not None:
        check.handled.add(key)
