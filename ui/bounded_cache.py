"""A server-wide cache bounded by bytes, not by entries: for results whose size an address decides.

`ui.models.shared` keeps up to 96 results of any size. That suits figures and the gallery's results, which
are small and alike for every student; it does not suit arrays whose size comes from a link (a layer's maps
at the input size in the address: 1.6 MB for Lite0 at 224 px, up to 200 MB within the budget of
`explorer.models.budget`), where 96 links with 96 sizes would pin gigabytes. Here the least recently used
entries leave once the total passes `max_bytes`, and a result larger than that is computed but not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")


class BoundedCache:
    """Results by key, at most `max_bytes` of them (as `size` counts them), least recently used out first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        with self._lock:
            return sum(n for _, n in self._items.values())

    def get(self, key: Hashable, build: Callable[[], T], size: Callable[[T], int]) -> T:
        """The result for `key`: kept, or `build()` (outside the lock: two sessions may build the same result
        at once, as with a cold cache_resource, and both get a correct one)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = build()
        n = size(value)
        if n <= self.max_bytes:
            with self._lock:
                self._items[key] = (value, n)
                self._items.move_to_end(key)
                total = sum(m for _, m in self._items.values())
                while total > self.max_bytes:
                    _, (_, gone) = self._items.popitem(last=False)
                    total -= gone
        return value
