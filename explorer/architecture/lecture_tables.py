"""The lecture's architecture tables (lecture 3), recomputed live beside the lecture's own figures.

Each table is a DataFrame with, per row, the lecture's figure, the live figure in the lecture's
units, and a one-sentence note wherever the two disagree (empty when they agree after rounding
to the lecture's precision). Live figures come from `explorer.architecture.profiling.profile` on torchvision's
architectures, on the meta device. The lecture counts multiply-adds and calls them "flop", gives
memory as KB (KiB) of float32 outputs, and in places leaves biases out of parameter counts.
"""

from __future__ import annotations

import pandas as pd
import torch
import torchvision
from torchvision.models.resnet import Bottleneck

from explorer.architecture.profiling import Profile, profile
from explorer.models import registry

# (row, torchvision module, out C, out H/W, memory KB, params k, flop M) from the lecture's AlexNet slide.
ALEXNET_LECTURE = [
    ("conv1", "features.0", 64, 56, 784, 23, 73), ("pool1", "features.2", 64, 27, 182, 0, 0),
    ("conv2", "features.3", 192, 27, 547, 307, 224), ("pool2", "features.5", 192, 13, 127, 0, 0),
    ("conv3", "features.6", 384, 13, 254, 664, 112), ("conv4", "features.8", 256, 13, 169, 885, 145),
    ("conv5", "features.10", 256, 13, 169, 590, 100), ("pool5", "features.12", 256, 6, 36, 0, 0),
    ("flatten", "avgpool", 9216, 1, 36, 0, 0), ("fc6", "classifier.1", 4096, 1, 16, 37_749, 38),
    ("fc7", "classifier.4", 4096, 1, 16, 16_777, 17), ("fc8", "classifier.6", 1000, 1, 4, 4_096, 4),
]

# (row, torchvision module or "input", values of the output, weights without bias) from the VGG-16 slide.
VGG16_LECTURE = [("INPUT", "input", 150_000, 0)] + [
    (label, f"features.{i}", values, params) for label, i, values, params in [
        ("CONV3-64", 0, 3_200_000, 1_728), ("CONV3-64", 2, 3_200_000, 36_864), ("POOL2", 4, 800_000, 0),
        ("CONV3-128", 5, 1_600_000, 73_728), ("CONV3-128", 7, 1_600_000, 147_456), ("POOL2", 9, 400_000, 0),
        ("CONV3-256", 10, 800_000, 294_912), ("CONV3-256", 12, 800_000, 589_824),
        ("CONV3-256", 14, 800_000, 589_824), ("POOL2", 16, 200_000, 0),
        ("CONV3-512", 17, 400_000, 1_179_648), ("CONV3-512", 19, 400_000, 2_359_296),
        ("CONV3-512", 21, 400_000, 2_359_296), ("POOL2", 23, 100_000, 0),
        ("CONV3-512", 24, 100_000, 2_359_296), ("CONV3-512", 26, 100_000, 2_359_296),
        ("CONV3-512", 28, 100_000, 2_359_296), ("POOL2", 30, 25_000, 0)]
] + [("FC", "classifier.0", 4096, 102_760_448), ("FC", "classifier.3", 4096, 16_777_216),
     ("FC", "classifier.6", 1000, 4_096_000)]
VGG16_LECTURE_TOTAL_VALUES = 24_000_000  # "TOTAL memory: 24M * 4 bytes ≈ 96MB / image"
VGG16_LECTURE_TOTAL_MB = 96

# (row, torchvision GoogLeNet module, out C, out H/W, memory KB, params k, flop M) from the stem slide.
GOOGLENET_STEM_LECTURE = [
    ("conv 7×7/2", "conv1", 64, 112, 3136, 9, 118), ("max-pool 3×3/2", "maxpool1", 64, 56, 784, 0, 2),
    ("conv 1×1", "conv2", 64, 56, 784, 4, 13), ("conv 3×3", "conv3", 192, 56, 2352, 111, 347),
    ("max-pool 3×3/2", "maxpool2", 192, 28, 588, 0, 1),
]
GOOGLENET_STEM_LECTURE_TOTAL = {"memory (MB)": 7.5, "params (k)": 124, "flop (M)": 418}
VGG16_TO_28_LECTURE = {"memory (MB)": 42.9, "params (k)": 1_100, "flop (M)": 7485}

# name -> (block type, blocks per stage, GFLOP, ImageNet top-5 error %) from the ResNet slide.
RESNET_LECTURE = {
    "resnet18": ("Basic", (2, 2, 2, 2), 1.8, 10.92), "resnet34": ("Basic", (3, 4, 6, 3), 3.6, 8.58),
    "resnet50": ("Bottle", (3, 4, 6, 3), 3.8, 7.13), "resnet101": ("Bottle", (3, 4, 23, 3), 7.6, 6.44),
    "resnet152": ("Bottle", (3, 8, 36, 3), 11.3, 5.94),
}

# "AlexNet vs VGG-16": totals and ratios quoted by the lecture.
LECTURE_VGG_VS_ALEXNET = {"activation memory": 25.0, "params": 2.3, "MACs": 19.4}
LECTURE_TOTALS = {"alexnet": {"memory (MB)": 1.9, "params (M)": 61, "GFLOP": 0.7},
                  "vgg16": {"memory (MB)": 48.6, "params (M)": 138, "GFLOP": 13.6}}


def _meta(name: str, size: int) -> Profile:
    with torch.device("meta"):
        model = registry.build(name)
    return profile(model, (3, size, size))


def _rows(prof: Profile) -> dict[str, object]:
    return {r.name: r for r in prof.layers}


def _note(*pairs: tuple[bool, str]) -> str:
    return " ".join(text for differs, text in pairs if differs)


def alexnet_table() -> pd.DataFrame:
    """Lecture 3's AlexNet table beside torchvision's AlexNet at 227×227."""
    prof = _meta("alexnet", 227)
    rows, out = _rows(prof), []
    for label, module, c, hw, kb, pk, mflop in ALEXNET_LECTURE:
        r = rows[module]
        live_c = r.output_shape[1] if len(r.output_shape) == 4 else r.output_shape[1]
        live_hw = r.output_shape[2] if len(r.output_shape) == 4 else 1
        if label == "flatten":
            live_c, live_hw = r.output_shape[1] * r.output_shape[2] * r.output_shape[3], 1
        weights = r.params - (r.output_shape[1] if r.params else 0)  # bias: one per output channel/unit
        live_kb, live_mmacs = r.activation_bytes / 1024, r.macs / 1e6
        is_fc = label.startswith("fc")
        note = _note(
            (round(live_mmacs) != mflop,
             f"{label} does {live_mmacs:,.1f} M multiply-adds (13×13×256 outputs × 3×3×384); the lecture's {mflop} M "
             "is an arithmetic slip."),
            (is_fc, f"The lecture's {pk:,}k excludes the bias: {weights:,} weights + {r.params - weights:,} biases "
                    f"= {r.params:,}."),
            (label == "flatten", "Flatten itself is a view (no new memory in PyTorch); the lecture lists the "
                                 "36 KB of the pooled 256×6×6 output it reshapes."),
        )
        out.append({"layer": label, "torchvision module": module, "lecture C": c, "live C": live_c,
                    "lecture H/W": hw, "live H/W": live_hw, "lecture memory (KB)": kb, "live memory (KB)": live_kb,
                    "lecture params (k)": pk, "live params (k)": r.params / 1e3, "lecture flop (M)": mflop,
                    "live MMACs": live_mmacs, "note": note})
    return pd.DataFrame(out)


def vgg16_table() -> pd.DataFrame:
    """Lecture 3's VGG-16 memory and parameter list beside torchvision's VGG-16 at 224×224."""
    prof = _meta("vgg16", 224)
    rows, out = _rows(prof), []
    for label, module, values, params in VGG16_LECTURE:
        if module == "input":
            live_values, live_weights, shape = 3 * 224 * 224, 0, "224 × 224 × 3"
        else:
            r = rows[module]
            live_values = r.activation_bytes // 4
            live_weights = r.params - (r.output_shape[1] if r.params else 0)
            shape = " × ".join(map(str, r.output_shape[2:] + r.output_shape[1:2]))
        differs = abs(live_values - values) > 0.03 * values
        out.append({"layer": label, "torchvision module": module, "live shape": shape, "lecture memory (values)": values,
                    "live memory (values)": live_values, "lecture params (no bias)": params,
                    "live params (no bias)": live_weights,
                    "note": "The lecture rounds 224×224×64 = 3,211,264 to 3.2M; this row rounds differently." if differs
                    else ""})
    return pd.DataFrame(out)


def vgg16_totals() -> dict[str, float]:
    """Live sums against the lecture's "24M values ≈ 96 MB" and "138M parameters"."""
    table = vgg16_table()
    prof = _meta("vgg16", 224)
    listed = int(table["lecture memory (values)"].sum())
    live = int(table["live memory (values)"].sum())
    return {"lecture total values": VGG16_LECTURE_TOTAL_VALUES, "lecture total MB": VGG16_LECTURE_TOTAL_MB,
            "sum of the lecture's rows": listed, "live values": live, "live MB": live * 4 / 1e6,
            "live params": prof.params, "live params without bias": int(table["live params (no bias)"].sum())}


VGG16_TOTAL_NOTE = ("The lecture's total of 24 M values (≈ 96 MB) does not follow from its own list, whose rows add "
                    "up to 15.2 M values (≈ 61 MB of float32), which is also what PyTorch allocates for these outputs.")


def googlenet_stem_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The GoogLeNet stem (224 → 28) beside torchvision's GoogLeNet, and the stem totals against VGG-16's
    first ten layers (224 → 28)."""
    prof = _meta("googlenet", 224)
    out = []
    for label, module, c, hw, kb, pk, mflop in GOOGLENET_STEM_LECTURE:
        group = [r for r in prof.layers if r.name == module or r.name.startswith(module + ".")]
        last = [r for r in group if not r.aliases_input][-1]  # the block's output tensor (BN output)
        params, macs = sum(r.params for r in group), sum(r.macs for r in group)
        bn = sum(r.params for r in group if r.type == "BatchNorm2d")
        note = _note(
            (mflop and not macs, f"Pooling is not counted in the app's convention; the lecture counts one op per "
                                 f"window element ({c}×{hw}×{hw}×9 = {c * hw * hw * 9 / 1e6:.1f} M)."),
            (bool(bn), f"torchvision adds batch norm ({bn:,} parameters) and drops the conv bias; without them "
                       f"the conv has {params - bn:,} weights."),
        )
        out.append({"layer": label, "torchvision module": module, "lecture C": c, "live C": last.output_shape[1],
                    "lecture H/W": hw, "live H/W": last.output_shape[2], "lecture memory (KB)": kb,
                    "live memory (KB)": last.activation_bytes / 1024, "lecture params (k)": pk,
                    "live params (k)": params / 1e3, "live conv weights (k)": (params - bn) / 1e3,
                    "lecture flop (M)": mflop, "live MMACs": macs / 1e6, "note": note})
    table = pd.DataFrame(out)
    vgg = _meta("vgg16", 224)
    first = [r for r in vgg.layers if r.name in {f"features.{i}" for i in range(17)}]
    totals = pd.DataFrame([
        {"network (224 → 28)": "GoogLeNet stem", "lecture memory (MB)": 7.5,
         "live memory (MB)": table["live memory (KB)"].sum() / 1024, "lecture params (k)": 124,
         "live params (k)": table["live params (k)"].sum(), "lecture flop (M)": 418,
         "live MMACs": table["live MMACs"].sum()},
        {"network (224 → 28)": "VGG-16 (first 10 layers)", "lecture memory (MB)": 42.9,
         "live memory (MB)": sum(r.activation_bytes for r in first) / 2**20, "lecture params (k)": 1_100,
         "live params (k)": sum(r.params for r in first) / 1e3, "lecture flop (M)": 7485,
         "live MMACs": sum(r.macs for r in first) / 1e6},
    ])
    return table, totals


GOOGLENET_TOTALS_NOTE = ("The stem's memory and parameters agree; its rows add up to 481 M ops (478 M multiply-adds "
                         "plus 3 M for pooling), so the lecture's total of 418 M has its digits swapped. The lecture's "
                         "VGG-16 figures for the same "
                         "224 → 28 stretch are lower than a count of VGG-16's first ten layers and the lecture gives "
                         "no derivation, so its 5.7× / 8.9× / 17.8× understate the gap.")


def resnet_v1_macs(name: str) -> int:
    """MACs of a bottleneck ResNet with the original (v1) stride placement: stride 2 in the first 1×1
    conv of a downsampling block, as in the paper, instead of torchvision's v1.5 stride in the 3×3 conv."""
    with torch.device("meta"):
        model = registry.build(name)
    for block in model.modules():
        if isinstance(block, Bottleneck) and block.conv2.stride == (2, 2):
            block.conv1.stride, block.conv2.stride = (2, 2), (1, 1)
    return profile(model, (3, 224, 224)).macs


_RESNET_V1 = {"resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
              "resnet34": torchvision.models.ResNet34_Weights.IMAGENET1K_V1,
              "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V1,
              "resnet101": torchvision.models.ResNet101_Weights.IMAGENET1K_V1,
              "resnet152": torchvision.models.ResNet152_Weights.IMAGENET1K_V1}


def resnet_table() -> pd.DataFrame:
    """Lecture 3's ResNet family table: blocks per stage, GFLOP and top-5 error, live."""
    out = []
    for name, (kind, blocks, gflop, top5_err) in RESNET_LECTURE.items():
        with torch.device("meta"):
            model = registry.build(name)
        live_blocks = tuple(len(getattr(model, f"layer{i}")) for i in range(1, 5))
        live_kind = "Bottle" if isinstance(model.layer1[0], Bottleneck) else "Basic"
        gmacs = profile(model, (3, 224, 224)).macs / 1e9
        v1 = resnet_v1_macs(name) / 1e9 if live_kind == "Bottle" else gmacs
        live_err = 100 - _RESNET_V1[name].meta["_metrics"]["ImageNet-1K"]["acc@5"]
        note = _note((abs(gmacs - gflop) > 0.1,
                      f"torchvision builds ResNet v1.5 (stride 2 in the 3×3 conv), {gmacs:.2f} G; with the paper's "
                      f"stride in the first 1×1 conv it is {v1:.2f} G, the lecture's {gflop}."))
        out.append({"model": registry.info(name).title, "lecture block": kind, "live block": live_kind,
                    "lecture blocks per stage": " / ".join(map(str, blocks)),
                    "live blocks per stage": " / ".join(map(str, live_blocks)),
                    "lecture GFLOP": gflop, "live GMACs": gmacs, "live GMACs (v1 strides)": v1,
                    "lecture top-5 error (%)": top5_err, "torchvision V1 top-5 error (%)": live_err, "note": note})
    return pd.DataFrame(out)


VGG_VS_ALEXNET_NOTE = ("The lecture's totals (1.9 vs 48.6 MB) sit below the sums of its own per-layer tables, but "
                       "their ratio survives; its 13.6 G for VGG-16 is 12 % below the 15.5 G multiply-adds of the "
                       "lecture's own formula and torchvision's metadata, so the compute ratio is about 21.7×, "
                       "not 19.4×.")


def all_tables() -> dict[str, object]:
    """Every table above, by name ("alexnet", "vgg", "vgg_totals", "stem", "stem_totals", "resnet"): what the
    Architectures page shows, computed in one call (the page runs it in the side process: it is Python throughout)."""
    stem, stem_totals = googlenet_stem_table()
    return {"alexnet": alexnet_table(), "vgg": vgg16_table(), "vgg_totals": vgg16_totals(),
            "stem": stem, "stem_totals": stem_totals, "resnet": resnet_table()}
