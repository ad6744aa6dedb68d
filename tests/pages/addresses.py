"""Hostile page addresses: every address key of every page, and values a curious student might type into them.

Shared by the fuzz test (tests/pages/test_hostile_links.py, a few generated addresses per page) and the
benchmark (bench/hostile_links.py, hundreds per page against a real server). Keys are read from the source,
so a setting added to a page is fuzzed the day it is added: every string literal of `ui/` and `app_pages/`
that looks like a key of the page's prefix (a widget key, most of them bound to the URL; the session-state
keys among them are harmless extras), plus the keys that pages read from `st.query_params` themselves.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]

#: Page url_path -> the key prefixes of its settings (ui/catalog.py names the pages).
PREFIXES: dict[str, tuple[str, ...]] = {
    "home": (), "conv": ("ca_",), "filters": ("fk_", "ff_", "fm_"), "receptive-fields": ("rf_",),
    "architectures": ("ar_",), "transfer": ("tl_",), "attributions": ("at_",), "zoo": (),
}
#: Keys that no prefix names: the image picker's (every page with a photo), the zoo's model, a run's id, guess-first, presenter mode,
#: and the settings whose keys are built with an f-string (`f"{key}_group"`).
EXTRA: dict[str, tuple[str, ...]] = {
    "home": ("present",), "conv": ("guess", "present"), "filters": ("img_src", "img", "guess", "present"),
    "receptive-fields": ("img_src", "img", "guess", "present"),
    "architectures": ("ar_group", "ar_b_group", "ar_tbatch", "guess", "present"),
    "transfer": ("run", "img_src", "img", "present"), "attributions": ("img_src", "img", "present"),
    "zoo": ("model", "img_src", "img", "present"),
}

_LITERAL = re.compile(r"\"([a-z]{2}_[A-Za-z0-9_]+)\"")


def page_keys(url_path: str) -> list[str]:
    """Every address key of the page at `url_path` (sorted), read from the source of ui/ and app_pages/."""
    text = "\n".join(p.read_text() for folder in ("ui", "app_pages") for p in sorted((ROOT / folder).rglob("*.py")))
    found = {k for k in _LITERAL.findall(text) if k.startswith(PREFIXES[url_path])}
    return sorted(found | set(EXTRA[url_path]))


#: Values that are wrong for almost every setting: numbers out of range or not numbers at all, names that
#: are not names, markup of every kind, and sheer size.
HOSTILE_NUMBERS = ["1e400", "-1e400", "nan", "NaN", "inf", "-inf", "Infinity", "9" * 400, "-" + "9" * 90, "-1",
                   "0", "0.5", "-0.0", "1e-400", "2147483648", "9007199254740993", "0x10", "1_000", " 3 ", "3.",
                   "1e5", "65536", "4096", "1024"]
MARKUP = ["[a link](https://example.com/x)", "![an image](https://example.com/i.png)", "# A heading",
          "<b>bold</b>", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", ":red[red] :material/home:",
          "$x^2$", "**bold** _it_", "`code`", "> quote", "| a | b |\n|---|---|", "<a href=javascript:alert(1)>x</a>"]
HOSTILE_TEXT = ["", " ", "x" * 5000, "true", "false", "None", "null", "[]", "{}", "../../etc/passwd", "\u202eevil",
                "日本語", "😀", "a\nb", "%00", "\\", "'", '"', "custom", "run:1", "file",
                "your run #1 lenet5", "channel 99999", "features.999", "layer4.99"]
#: Whole networks as the receptive-fields and architectures pages read them (rf_net, ar_net).
NETWORKS = ["3x64x64:Conv2d-8-3-1-1_ReLU_Flatten_Linear-100000", "1x28x28:Conv2d-99999999-3-1-1",
            "3x4096x4096:Conv2d-64-3-1-1", "1x28x28:" + "ReLU_" * 2000, "1x28x28:Conv2d-8-999999-1-0",
            "1x28x28:Conv2d-8-3-1-99999999", "1x28x28:Conv2d-8-3-99999999999999999999-0",
            "1x28x28:Residual-100000-1", "1x1:Linear-9999999", "1x28x28:Dropout-nan", "1x28x28:Dropout-1e400",
            "0x0x0:ReLU", "1x28x28:Bogus-1", ":", "1x28x28:", "x:ReLU", "99999999999999999999x1x1:ReLU",
            "Conv2d-8-3-1-1_ReLU", "Conv2d-1e400-3-1-1", "Linear-99999999999_Linear-99999999999"]
HOSTILE = HOSTILE_NUMBERS + MARKUP + HOSTILE_TEXT + NETWORKS


def hostile_query(keys: list[str], rng: random.Random, share: float = 0.5) -> dict[str, str | list[str]]:
    """About `share` of `keys`, each with a hostile value (sometimes repeated: ?k=a&k=b), or a stray key."""
    query: dict[str, str | list[str]] = {}
    for key in keys:
        if rng.random() < share:
            query[key] = rng.choice(HOSTILE) if rng.random() < 0.9 else [rng.choice(HOSTILE), rng.choice(HOSTILE)]
    if rng.random() < 0.2:
        query[rng.choice(["x", "_stcore", "embed", "page", "__proto__"])] = rng.choice(HOSTILE)
    return query


def query_string(query: dict[str, str | list[str]]) -> str:
    """`query` as the part of an address after "?" (repeated keys for lists)."""
    pairs = [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list) else [vs])]
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
