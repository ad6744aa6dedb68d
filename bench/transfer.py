"""Speed and memory figures of the Transfer-learning page (issue 6). Prints medians over repeats.

    python bench/transfer.py [--repeats 3]

1. Lite0 feature extraction on 2 classes x 50 generated images at 224 px, 20 epochs, run through
   `explorer.training.jobs` exactly as the page does: wall time (target <= 15 s) and the time of an epoch
   once the features are cached (target <= 50 ms).
2. Full fine-tuning throughput (training images/s) of Lite0 and of LeNet-5 from scratch.
3. LeNet-5 from scratch on scikit-learn's digits: validation accuracy and time (target >= 95% in <= 30 s).
4. Pixels a session keeps for 200 uploaded 12-megapixel photos (target <= 50 MB).
5. Fine-tuning the last block of Lite0 on 2 classes x 50 images: seconds per epoch with the frozen blocks'
   output cached, without the cache, and of fine-tuning everything (target: cached <= 0.25x a full
   fine-tune epoch).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CNN_EXPLORER_OFFLINE", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import torch  # noqa: E402

from explorer.training import datasets, feature_cache, jobs, trainer  # noqa: E402
from explorer.training.config import TrainConfig  # noqa: E402
from explorer.runtime import worker


def run(config: TrainConfig, data: datasets.DataSet, val: float = 0.2) -> jobs.Run:
    train, valid = datasets.split(data, val, seed=0)
    r = jobs.start(config, train, valid, data.classes)
    r.wait()
    assert r.status == worker.DONE, r.error
    return r


def feature_extraction(repeats: int) -> None:
    data = datasets.demo_shapes(50, classes=("circle", "square"), size=224, seed=0)
    walls, epoch_ms, cache, accs, again, e2e = [], [], [], [], [], []
    config = TrainConfig("efficientnet_lite0", "linear_probe", epochs=20, batch_size=16, lr=1e-2)
    for _ in range(repeats):
        feature_cache.clear()  # a first run: the backbone must see every image
        t0 = time.perf_counter()
        r = run(config, data)
        walls.append(time.perf_counter() - t0)
        epoch_ms.append(1000 * statistics.median(e["seconds"] for e in r.epochs))
        cache.append(r.summary["cache_seconds"])
        e2e.append(r.summary["images_per_s"])
        accs.append(r.epochs[-1]["val_acc"])
        t0 = time.perf_counter()
        run(TrainConfig("efficientnet_lite0", "linear_probe", epochs=20, batch_size=16, lr=3e-3), data)
        again.append(time.perf_counter() - t0)
    print(f"1. Lite0 feature extraction, 2 classes x 50 images at 224 px, 20 epochs ({repeats} repeats):")
    print(f"   wall time median {statistics.median(walls):.1f} s (min {min(walls):.1f}, max {max(walls):.1f}); "
          f"target <= 15 s")
    print(f"   of which feature caching {statistics.median(cache):.1f} s for 100 images "
          f"({1000 * statistics.median(cache) / 100:.0f} ms per image)")
    print(f"   end to end (caching included): median {statistics.median(e2e):.0f} training images/s")
    print(f"   epoch after caching: median {statistics.median(epoch_ms):.1f} ms; target <= 50 ms; "
          f"final val accuracy {statistics.median(accs):.0%}")
    print(f"   a second run on the same images (another learning rate; features reused): median "
          f"{statistics.median(again):.1f} s ({statistics.median(walls) / statistics.median(again):.0f}x faster)")


def throughput(repeats: int) -> None:
    shapes = datasets.demo_shapes(16, classes=("circle", "square"), size=224, seed=1)
    digits = datasets.digits()
    print("2. Full fine-tuning throughput (training images/s, forward + backward + step, one thread per run):")
    for label, config, data in (
        ("EfficientNet-Lite0 fine-tune all, 224 px, batch 16", TrainConfig("efficientnet_lite0", "finetune_all",
                                                                           epochs=1, batch_size=16), shapes),
        ("LeNet-5 from scratch, 32 px, batch 32", TrainConfig("lenet5", "scratch", epochs=1, batch_size=32), digits),
    ):
        speeds = [run(config, data).epochs[0]["images_per_s"] for _ in range(repeats)]
        print(f"   {label}: median {statistics.median(speeds):.1f} images/s "
              f"(min {min(speeds):.1f}, max {max(speeds):.1f})")


def digits_from_scratch(repeats: int) -> None:
    data = datasets.digits()
    times, accs = [], []
    for seed in range(repeats):
        t0 = time.perf_counter()
        r = run(TrainConfig("lenet5", "scratch", epochs=6, batch_size=32, lr=3e-3, seed=seed), data)
        times.append(time.perf_counter() - t0)
        accs.append(r.epochs[-1]["val_acc"])
    print("3. LeNet-5 from scratch on sklearn digits (1,437 train / 360 val, 6 epochs, adam 3e-3, batch 32):")
    print(f"   val accuracy median {statistics.median(accs):.1%} (min {min(accs):.1%}); time median "
          f"{statistics.median(times):.1f} s (max {max(times):.1f}); target >= 95% in <= 30 s")


def stored_size() -> None:
    rng = np.random.default_rng(0)
    photos = []
    for i in range(20):  # 20 distinct 4032x3024 JPEGs (a 12 MP phone photo), each uploaded 10 times
        small = rng.integers(0, 256, (63, 84, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((4032, 3024), Image.Resampling.BILINEAR)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        photos.append(buf.getvalue())
    t0 = time.perf_counter()
    kept = [datasets.load_upload(photos[i % 20]) for i in range(200)]
    seconds = time.perf_counter() - t0
    data = datasets.DataSet([(img, i % 2) for i, img in enumerate(kept)], ["a", "b"])
    upload_mb = sum(len(photos[i % 20]) for i in range(200)) / 1e6
    print(f"4. 200 uploaded 12 MP photos ({upload_mb:.0f} MB of JPEG, {200 * 4032 * 3024 * 3 / 1e9:.1f} GB decoded at "
          f"full size): kept at {kept[0].width}x{kept[0].height} px = {data.nbytes() / 1e6:.1f} MB of pixels in the "
          f"session; target <= 50 MB. Decoding took {seconds:.1f} s ({1000 * seconds / 200:.0f} ms per photo).")


def cached_prefix(repeats: int) -> None:
    data = datasets.demo_shapes(50, classes=("circle", "square"), size=224, seed=0)
    train, valid = datasets.split(data, 0.2, seed=0)
    torch.set_num_threads(1)  # as the server runs each job (explorer.training.jobs)
    rows = {"last block, cached": ("finetune_last", True), "last block, not cached": ("finetune_last", False),
            "everything (fine-tune all)": ("finetune_all", True)}
    epochs, prep = {k: [] for k in rows}, []
    for _ in range(repeats):
        for label, (strategy, cache) in rows.items():
            config = TrainConfig("efficientnet_lite0", strategy, epochs=3, batch_size=16, finetune_blocks=1)
            out = list(trainer.train(config, train, valid, data.classes, cache_frozen=cache))
            epochs[label] += [m["seconds"] for m in out if m["kind"] == "epoch"]
            if out[-1]["cache"] == "prefix":
                prep.append(out[-1]["cache_seconds"])
    med = {k: statistics.median(v) for k, v in epochs.items()}
    full = med["everything (fine-tune all)"]
    print(f"5. Lite0, fine-tune the last block (features.8 + head), {len(train)} train / {len(valid)} val images at "
          f"224 px, batch 16, one thread ({repeats} x 3 epochs each; median seconds per epoch, validation included):")
    for label, value in med.items():
        print(f"   {label}: {value:.2f} s per epoch = {value / full:.2f}x a full fine-tune epoch")
    print(f"   target: cached <= 0.25x; the cache itself took a median {statistics.median(prep):.1f} s once per run; "
          f"load average now {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", type=int, choices=range(1, 6), help="run only this numbered section")
    args = parser.parse_args()
    print(f"CPU cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f} (other work on the machine slows "
          "every figure; compare ratios within one run)")
    sections = [lambda: feature_extraction(args.repeats), lambda: throughput(args.repeats),
                lambda: digits_from_scratch(args.repeats), stored_size, lambda: cached_prefix(args.repeats)]
    for number, section in enumerate(sections, 1):
        if args.only in (None, number):
            section()


if __name__ == "__main__":
    main()
