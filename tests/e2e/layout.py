"""What the layout checks read from the browser (issue 21): text wider than its box, overlapping buttons, chart
text past its chart's edge, chart font sizes. Each is a JavaScript function for `page.evaluate`."""

from __future__ import annotations

#: Text that must not be wider than its box: paragraphs, headings, list items, captions, labels, table cells.
OVERFLOWING = """() => [...document.querySelectorAll(
        '[data-testid="stMain"] :is(p, h1, h2, h3, li, label, td, th, [data-testid="stCaptionContainer"],'
        + ' [data-testid="stMetricValue"], [data-testid="stMetricLabel"])')]
    .filter(e => e.clientWidth > 0 && !e.closest('pre, code, .katex-display, [data-testid="stDataFrame"]'))
    .map(e => [e.scrollWidth > e.clientWidth + 1,
               e.tagName + ' ' + e.scrollWidth + '>' + e.clientWidth + ': ' + e.textContent.slice(0, 60)])"""
#: Labels cut with an ellipsis (a metric's or a widget's label never wraps: Streamlit clips it).
TRUNCATED_LABELS = """() => [...document.querySelectorAll(
        '[data-testid="stMain"] :is([data-testid="stMetricLabel"], [data-testid="stWidgetLabel"]) *')]
    .filter(e => e.clientWidth > 0 && getComputedStyle(e).textOverflow === 'ellipsis'
                 && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.textContent.slice(0, 60))"""
#: The font size of every drawn chart text (an SVG text with content, a fill and a width).
CHART_FONTS = """() => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot text')]
    .filter(t => t.textContent.trim() && getComputedStyle(t).fill !== 'rgba(0, 0, 0, 0)'
                 && t.getBoundingClientRect().width > 0)
    .map(t => [parseFloat(getComputedStyle(t).fontSize), t.textContent.slice(0, 30)])"""
#: The box of every visible button (Streamlit's and the charts' menu buttons and slider grips); the content of a
#: folded expander has a box but is not shown.
BUTTONS = """() => [...document.querySelectorAll('button, [role="button"], .updatemenu-button, .slider-grip')]
    .filter(b => b.checkVisibility({opacityProperty: true, visibilityProperty: true}))
    .map(b => b.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0)
    .map(r => [r.left, r.top, r.right, r.bottom])"""
#: Chart text (titles, labels, tick labels, colour bars) that reaches past its chart's left or right edge.
CHART_TEXT_OUTSIDE = """() => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')].flatMap(plot => {
    const box = plot.getBoundingClientRect();
    return [...plot.querySelectorAll('.main-svg text')]
        .filter(t => t.textContent.trim() && getComputedStyle(t).fill !== 'rgba(0, 0, 0, 0)')
        .filter(t => { const r = t.getBoundingClientRect();
                       return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1); })
        .map(t => t.textContent.slice(0, 60)); })"""


def overlaps(boxes: list[list[float]]) -> list[tuple[list[float], list[float]]]:
    """Pairs of boxes that overlap by more than a pixel both ways, one not nested in the other."""
    def inside(a: list[float], b: list[float]) -> bool:
        return a[0] <= b[0] and a[1] <= b[1] and a[2] >= b[2] and a[3] >= b[3]
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1
            and not inside(a, b) and not inside(b, a)]
