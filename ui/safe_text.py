"""Text from outside, shown literally wherever Streamlit renders markdown.

Alerts, captions, `st.markdown`, widget labels, help tooltips and image captions are all markdown in
Streamlit: a class folder, a file name or an address value written into them as is could show a link, an
image or a heading of a stranger's choosing on a student's screen (DESIGN.md section 6). `md()` makes such
text inert. Plotly figures have their own escaping (`explorer.figures.safe_text.plain`).

How: CommonMark lets any ASCII punctuation be backslash-escaped, and an escaped character is always literal.
The text is first put on one line, so that only the constructs that can begin mid-line need escaping: emphasis
and strikethrough (`* _ ~`), headings (`#`, mid-line too), code (`` ` ``), links and images (`[ ]`), HTML and autolinks (`< >`), entities
(`&`), KaTeX (`$`), Streamlit's `:color[...]` directives (`:`), GFM autolinks (`@`, and the dot of `www.`) and
the backslash itself; the text's first character is escaped too when it could open a line construct (a
heading, a list, a quote, a table). Commas, parentheses and full stops stay as they are, so a sentence reads
the same in the page's source and on the screen. Streamlit replaces shortcodes (`:smile:`, `:streamlit:`) in
the text after parsing, where escapes are gone: a word joiner (U+2060, invisible) after each colon that
precedes a word breaks them.
"""

from __future__ import annotations

import re

_INLINE = re.compile(r"([\\`*_~\[\]<>&$:@#])")
_WWW = re.compile(r"(?i)(www)\.")
_LINE_START = re.compile(r"^([#+\-=>|!]|\d+(?=[.)]))")
_SHORTCODE = re.compile(r":(?=[\w+-])")
WORD_JOINER = "\u2060"
#: C0 controls and the bidirectional overrides and isolates, which could reorder the sentence around the text.
_CONTROL = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
#: Characters of outside text shown at most in one message (a link can carry kilobytes).
MAX_SHOWN = 80


def md(text: object, limit: int | None = MAX_SHOWN) -> str:
    """`text` as markdown that Streamlit renders exactly as typed: one line, cut to `limit` characters (with "…").

    Example: `md("[a](x) *b*")` is `\\[a\\](x) \\*b\\*`, which Streamlit shows as `[a](x) *b*`.
    """
    s = _CONTROL.sub("", " ".join(str(text).split()))
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    s = _INLINE.sub(r"\\\1", _SHORTCODE.sub(":" + WORD_JOINER, s))
    s = _WWW.sub(r"\1\\.", s)
    match = _LINE_START.match(s)
    if match and match.group(1).isdigit():  # "1." or "1)" opens an ordered list: escape the mark after it
        return s[: match.end()] + "\\" + s[match.end():]
    return _LINE_START.sub(r"\\\1", s)
