"""ui.bounded_cache: results whose size an address decides are kept within a byte budget, oldest out first."""

from ui.bounded_cache import BoundedCache


def test_least_recently_used_results_leave_past_the_budget_and_a_huge_one_is_not_kept():
    cache = BoundedCache(100)
    built = []

    def make(n: int):
        return lambda: built.append(n) or bytes(n)

    assert cache.get("a", make(40), len) == bytes(40) and cache.get("b", make(40), len) == bytes(40)
    cache.get("a", make(40), len)  # a hit: "a" is now the most recent
    cache.get("c", make(40), len)  # 120 bytes: "b", the least recently used, leaves
    assert built == [40, 40, 40] and cache.nbytes == 80
    cache.get("a", make(40), len)
    cache.get("b", make(40), len)  # built again
    assert built == [40, 40, 40, 40] and cache.nbytes == 80
    assert cache.get("huge", make(500), len) == bytes(500) and cache.nbytes == 80  # computed, not kept
    cache.get("huge", make(500), len)
    assert built[-2:] == [500, 500]
