"""Full sweep of the receptive-field oracle: every layer of every zoo model against back-propagation.

The test suite checks a sample of layers per model (tests/receptive_fields/test_fields.py); this checks all of
them. For each layer, an input large enough for the centre unit's box to lie inside the image; the
support of that unit's input gradient (in the oracle's transparent network, tests/rf_oracle.py) must be
exactly `unit_box` and fill it. Fields wider than --square px (DenseNet-121's last block sees 2071 px)
are checked one axis at a time on a thin input (H × the smallest width the network takes, then W ×
the smallest height), always in float64 with the seed gradient scaled by 1e200: DenseNet at 2200×2200
would need tens of GB, and with a single column the far edges of deep depthwise networks underflow
float32, and even float64 unscaled.

Run: `python bench/receptive_field_oracle.py [model ...] [--square 320] [--every N]`. About an hour on
an idle 2-core machine for the whole zoo; prints one line per model and every mismatch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from explorer.receptive_fields import fields as rf  # noqa: E402
from tests.receptive_fields import rf_oracle as oracle  # noqa: E402
from explorer.models import registry


#: Seed gradient on thin inputs: one column leaves few paths, and the far edges of EfficientNet-B0's deepest
#: fields carry ~1e-265 in float64 before squeeze-and-excitation scales them under the smallest double.
THIN_SEED = 1e200


def fields_at(model, cache: dict, size: tuple[int, int]) -> dict[str, rf.LayerRF]:
    if size not in cache:
        try:
            cache[size] = {f.name: f for f in rf.receptive_fields(model, size)}
        except ValueError:
            cache[size] = {}
    return cache[size]


def check_square(model, cut, cache, layer: str, start: rf.LayerRF, floor: int, channels: int) -> str | None:
    size, jump = max(start.size), int(max(start.jump))
    for side in (max(floor, size + k * jump + 1) for k in range(8)):
        field = fields_at(model, cache, (side, side)).get(layer)
        if field is None:
            continue
        unit = (field.output_size[0] // 2, field.output_size[1] // 2)
        box = rf.unit_box(field, *unit)
        if min(box[:2]) >= 0 and max(box[2:]) < side:
            mask = oracle.support(cut, layer, side, unit, channels)
            got = oracle.bounding_box(mask)
            full = bool(mask[box[0]:box[2] + 1, box[1]:box[3] + 1].all())
            return None if got == box and full else f"{layer}: box {box}, gradient {got}, full {full} at {side} px"
    return f"{layer}: no input holds the field"


def check_thin(model, cut, cache, layer: str, start: rf.LayerRF, floor: int, channels: int) -> str | None:
    problems = []
    for axis in (0, 1):
        size, jump = start.size[axis], int(start.jump[axis])
        for long in (max(floor, size + k * jump + 1) for k in range(8)):
            shape = (long, floor) if axis == 0 else (floor, long)
            field = fields_at(model, cache, shape).get(layer)
            if field is None:
                continue
            unit = (field.output_size[0] // 2, field.output_size[1] // 2)
            box = rf.unit_box(field, *unit)
            lo, hi = box[axis], box[axis + 2]
            if lo >= 0 and hi < long:
                got = oracle.bounding_box(oracle.support(cut, layer, shape, unit, channels, scale=THIN_SEED))
                if (got[axis], got[axis + 2]) != (lo, hi):
                    problems.append(f"{layer} axis {axis}: box {lo}…{hi}, gradient {got[axis]}…{got[axis + 2]}")
                break
        else:
            problems.append(f"{layer} axis {axis}: no input holds the field")
    return "; ".join(problems) or None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=registry.list_models())
    parser.add_argument("--square", type=int, default=320, help="largest field checked on a square input (px)")
    parser.add_argument("--every", type=int, default=1, help="check every N-th layer")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"Receptive fields against back-propagation, every {args.every} layer(s); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    failures = 0
    for name in args.models:
        started = time.perf_counter()
        with torch.device("meta"):
            model = registry.build(name)
        channels = registry.info(name).in_channels
        floor = rf.smallest_input(model)
        cache: dict = {}
        cut = oracle.transparent(model, cut_global=True)
        cut64 = cut if next(cut.parameters()).dtype == torch.float64 else None  # thin inputs: float64 is cheap
        fields = rf.receptive_fields(model, registry.info(name).input_size)
        checked = thin = 0
        for start in fields[::args.every]:
            if start.output_size == (1, 1):  # global pooling: its box is everything below it
                continue
            if max(start.size) <= args.square:
                problem = check_square(model, cut, cache, start.name, start, floor, channels)
            else:
                if cut64 is None:  # deep depthwise layers underflow float32 even with the 1e20 seed
                    cut64 = oracle.transparent(model, cut_global=True, dtype=torch.float64)
                problem = check_thin(model, cut64, cache, start.name, start, floor, channels)
                thin += 1
            checked += 1
            if problem:
                failures += 1
                print(f"  MISMATCH {name} {problem}", flush=True)
        print(f"{name:<20} {checked:>4} layers ({thin} on thin inputs) in {time.perf_counter() - started:6.1f} s",
              flush=True)
    print("all layers match" if not failures else f"{failures} mismatches")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
