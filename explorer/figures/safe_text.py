"""User text in Plotly figures, shown literally.

Plotly renders a subset of HTML (`<b>`, `<i>`, `<br>`, `<a href>`, `<span style>`) in titles,
tick labels, annotations and hover text, and treats a string wrapped in `$...$` as LaTeX. A
class folder named `<b>bold` would therefore turn bold, and `<a href=...>` into a link. Every
piece of user text (file names, zip folder names, class names, query parameters) goes through
`plain()` before it enters a figure. Plotly decodes HTML entities after it has found the tags,
so an escaped name is drawn exactly as typed.
"""

from __future__ import annotations

import html


def plain(text: object) -> str:
    """`text` as a string that Plotly draws verbatim: no tags, no LaTeX, no entities decoded twice.

    >>> plain("<b>cat</b> & $dog$")
    '&lt;b&gt;cat&lt;/b&gt; &amp; &#36;dog&#36;'
    """
    return html.escape(str(text), quote=False).replace("$", "&#36;")


def plain_all(texts: list) -> list[str]:
    """`plain` applied to every item of a list (class names, tick labels)."""
    return [plain(t) for t in texts]
