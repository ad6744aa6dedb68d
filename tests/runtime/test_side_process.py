"""explorer.runtime.side_process: profiles computed in the helper process equal those computed here."""

import os

import pytest

from explorer.architecture import comparison
from explorer.runtime import side_process


def test_a_profile_from_the_helper_process_equals_one_computed_here():
    there = side_process.run(comparison.profile_model, "resnet18", 160, 1)
    here = comparison.profile_model("resnet18", 160, 1)
    assert (there.params, there.macs, there.activation_bytes, there.output_shape) == \
        (here.params, here.macs, here.activation_bytes, here.output_shape)
    assert [(r.name, r.macs, r.output_shape) for r in there.layers] == \
        [(r.name, r.macs, r.output_shape) for r in here.layers]


def test_a_students_error_comes_back_with_its_message():
    with pytest.raises(ValueError, match="The input size must be a whole number of pixels"):
        side_process.run(comparison.profile_model, "resnet18", 0, 1)


def test_a_dead_helper_process_is_replaced():
    pid = side_process.run(os.getpid)
    assert pid != os.getpid()
    os.kill(pid, 9)
    assert side_process.run(os.getpid) not in (pid, os.getpid())
