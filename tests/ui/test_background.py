"""ui.background.Keyed: one computation per key, finished results kept within a count and a byte budget."""

from __future__ import annotations

import threading

import numpy as np

from ui import background


def test_one_computation_per_key_while_it_runs():
    gate, calls = threading.Event(), []

    def work():
        calls.append(1)
        gate.wait(10)
        return 7

    keyed = background.Keyed(background.pool(2, "test-keyed"))
    first, second = keyed.submit(("a",), work), keyed.submit(("a",), work)
    assert first is second
    gate.set()
    assert first.result(10) == 7 and calls == [1]


def test_finished_results_kept_within_max_bytes_least_recent_out():
    keyed = background.Keyed(background.pool(1, "test-bytes"), max_bytes=2500, size=lambda a: a.nbytes)
    futures = {}
    for name in "abcd":  # 1,000 bytes each: at most two kept once a new key comes
        futures[name] = keyed.submit((name,), np.zeros, 1000, np.uint8)
        futures[name].result(10)
    keyed.submit(("e",), np.zeros, 10, np.uint8).result(10)
    assert keyed.submit(("d",), np.ones, 1, np.uint8) is futures["d"]  # kept
    assert keyed.submit(("a",), np.ones, 1, np.uint8) is not futures["a"]  # dropped: computed anew


def test_a_failure_with_a_sentence_is_kept_another_is_tried_again():
    keyed = background.Keyed(background.pool(1, "test-fail"))

    def sentence():
        raise ValueError("pick a smaller input")

    def glitch():
        raise OSError("disk")

    failed = keyed.submit(("v",), sentence)
    background.ready(failed, 10)
    assert keyed.submit(("v",), sentence) is failed
    other = keyed.submit(("o",), glitch)
    background.ready(other, 10)
    assert keyed.submit(("o",), glitch) is not other
