"""Guess first: a class guesses an answer before the app shows it (issue 21).

With `?guess=1` in the address (checked by `ui.address.flag`), the answers a page computes (the output size on
/conv, a calculator's counts, the toy stack's receptive field, the top-1 class on /filters) stay hidden until
the student typed a guess and pressed Reveal; then the page shows them, and how close each guess was. A teacher's
link opens the whole class in this mode. The sidebar toggle (`toggle()`, drawn by the page) turns it on or off.

    if guess.hidden("ca", "What comes out of this layer?", [guess.Answer("output height O_h", 26), ...]):
        return  # the answers stay hidden this run
    ...draw the answers...

A reveal belongs to the answers it was made for: change a setting and the new answers are hidden again.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui import address
from ui.safe_text import md

KEY = "guess"  # the address key
_TOGGLE = "guess_toggle"  # the sidebar toggle's widget key (not bound: the address holds "1", not "true")
_SHOWN = "guess_shown_"  # + panel key: {"answers": the answers revealed, "guesses": what the student typed}
_MISSING = "guess_missing_"  # + panel key: Reveal was pressed before every guess was typed


@dataclass(frozen=True)
class Answer:
    """One hidden answer: its name (a widget label), its true value, and for a class, the model's ranking.

    Attributes:
        name: what is asked, e.g. "output height O_h" (plain text: escaped where shown).
        value: the true number, or a class name.
        ranking: for a class, the model's top classes with their probabilities, highest first.
        options: for a class, every class the student may pick.
    """

    name: str
    value: int | float | str
    ranking: tuple[tuple[str, float], ...] = ()
    options: tuple[str, ...] = ()


def on() -> bool:
    """Whether answers stay hidden until a guess: the address's `?guess=` (an unusable value: one sentence, off)."""
    return address.flag(KEY, "guess-first mode")


def toggle() -> None:
    """The sidebar switch of guess-first mode, drawn once by each page that has guesses (not from a fragment)."""
    st.session_state[_TOGGLE] = on()  # before the widget: it shows the address's value
    st.sidebar.toggle("Guess first", key=_TOGGLE, on_change=_toggled, help="Hide the computed answers until you "
                      "typed a guess and pressed Reveal. The address keeps it (?guess=1), so a link opens a class "
                      "in this mode.")


def _toggled() -> None:
    address.set_flag(KEY, bool(st.session_state[_TOGGLE]))


def number(x: float) -> str:
    """A guess or a difference as the page writes numbers: "921,601,000", "0.25"."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4g}"


def closeness(guess: float, truth: float) -> str:
    """How far a number guess is from the truth, in words: "exactly right", "2 too high (8% off)"."""
    if guess == truth:
        return "exactly right"
    diff = guess - truth
    size = number(abs(diff))
    share = f" ({abs(diff) / abs(truth):.0%} off)" if truth else ""
    return f"{size} too {'high' if diff > 0 else 'low'}{share}"


def class_closeness(guess: str, answer: Answer) -> str:
    """How close a class guess is to the model's top-1 (markdown): right, in its top few with a rank, or not."""
    labels = [label for label, _ in answer.ranking]
    if guess == answer.value:
        return "exactly right"
    if guess in labels:
        rank = labels.index(guess)
        return (f"not its first choice, but its guess number {rank + 1} "
                f"({answer.ranking[rank][1]:.1%}, against {answer.ranking[0][1]:.1%})")
    return f"not among its top {len(labels)}" if labels else "not its choice"


def _feedback(answers: list[Answer], guesses: dict[str, object]) -> list[str]:
    lines = []
    for a in answers:
        guess = guesses.get(a.name)
        if isinstance(a.value, str):
            how = class_closeness(str(guess), a)
            lines.append(f"- **{md(a.name)}**: you said “{md(guess)}”, the model says “{md(a.value)}”: {how}.")
        else:
            how = closeness(float(guess), float(a.value))
            lines.append(f"- **{md(a.name)}**: you said {number(float(guess))}, it is {a.value:,}: {how}.")
    return lines


def _reveal(key: str, answers: list[Answer]) -> None:
    guesses = {a.name: st.session_state.get(f"guess_{key}_{i}") for i, a in enumerate(answers)}
    if any(g is None or g == "" for g in guesses.values()):
        st.session_state[_MISSING + key] = True
        return
    st.session_state[_SHOWN + key] = {"answers": answers, "guesses": guesses}


def _hide(key: str) -> None:
    st.session_state.pop(_SHOWN + key, None)


def hidden(key: str, question: str, answers: list[Answer]) -> bool:
    """In guess-first mode: the guess form and True (the caller hides its answers) until Reveal; after it, how
    close each guess was and False. Outside the mode: False, and nothing drawn.

    Args:
        key: the panel's key, unique on the page ("ca", "ar_c1_table", "rf_toy").
        question: the question the class answers, one sentence (plain text: written by the page).
        answers: what is hidden; a change of any value hides them again.
    """
    if not on():
        return False
    shown = st.session_state.get(_SHOWN + key)
    with st.container(border=True, key=f"guess_box_{key}"):
        if shown is not None and shown["answers"] == answers:
            st.markdown(f":material/lightbulb: **Guess first.** {question}\n\n"
                        + "\n".join(_feedback(answers, shown["guesses"])))
            st.button("Guess again", key=f"guess_{key}_again", icon=":material/refresh:", on_click=_hide,
                      args=(key,))
            return False
        st.markdown(f":material/lightbulb: **Guess first.** {question} Type your guess, then press Reveal.")
        for col, (i, a) in zip(st.columns(min(4, len(answers))) * len(answers), enumerate(answers)):
            if isinstance(a.value, str):
                col.selectbox(md(a.name), list(a.options), index=None, key=f"guess_{key}_{i}",
                              placeholder="Type to search…")
            else:
                col.number_input(md(a.name), value=None, step=1 if isinstance(a.value, int) else 0.1,
                                 key=f"guess_{key}_{i}", placeholder="your guess")
        if st.session_state.pop(_MISSING + key, False):
            st.warning("Type a guess for every answer first.", icon=":material/edit:")
        st.button("Reveal", key=f"guess_{key}_reveal", type="primary", icon=":material/visibility:",
                  on_click=_reveal, args=(key, answers))
    return True
