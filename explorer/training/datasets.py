"""Small image-classification data sets for the Transfer-learning page.

A data set is a plain list of `(PIL image, label)` pairs plus the class names (`DataSet`), so a
notebook can build one by hand. Three sources:

- `demo_shapes()`: a generated data set (circles, squares, triangles, ...) varied in colour,
  size, position, rotation and background, seeded, so no binary files are stored.
- `digits()`: scikit-learn's 1,797 real handwritten 8x8 digits, upscaled to 32x32 for LeNet-5.
- `read_zip()`: a zip of class folders (torchvision's ImageFolder layout), read defensively
  (DESIGN.md section 6): absolute paths, `..`, symlinks, zip bombs and over-size archives are
  rejected; corrupt or non-image files are skipped and listed.

Every uploaded file is decoded by `explorer.images.load_image` and stored downscaled to
`STORE_SIDE` pixels on its longest side: 200 phone photos take about 30 MB, not 1 GB.
"""

from __future__ import annotations

import io
import math
import random
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
from PIL import Image, ImageDraw

from explorer import images

#: Longest side, in pixels, of a stored training image (Lite2, the largest input, needs 260).
STORE_SIDE = 256
#: Largest zip upload accepted, in bytes.
MAX_ZIP_BYTES = 50 * 1024 * 1024  # = server.maxUploadSize in .streamlit/config.toml
#: Largest total uncompressed size of a zip, in bytes.
MAX_UNZIPPED_BYTES = 400 * 1024 * 1024
#: Largest compression ratio of one entry: images are already compressed, so a 100:1 entry is a bomb.
MAX_RATIO = 100
#: Most files read from one zip.
MAX_FILES = 5000
#: Pixel bytes one student's own data may hold in the server's memory (images are kept at
#: `STORE_SIDE` px: about 400 square photos, 550 of a phone's 4:3 ones). With 30 students this
#: bounds what uploads can take; the demo sets are shared by all and not counted.
MAX_SESSION_PIXEL_BYTES = 80 * 2**20

Sample = tuple[Image.Image, int]


@dataclass
class DataSet:
    """Images with integer labels and the class names they index.

    Attributes:
        samples: [(RGB PIL image, label in 0..len(classes)-1)].
        classes: class names in label order.
        skipped: [(file name, reason)] of files that were not usable images.
    """

    samples: list[Sample]
    classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Images per class name."""
        out = {c: 0 for c in self.classes}
        for _, label in self.samples:
            out[self.classes[label]] += 1
        return out

    def nbytes(self) -> int:
        """Bytes of pixel data held (width x height x channels of every image)."""
        return sum(img.width * img.height * len(img.getbands()) for img, _ in self.samples)


def check_class_names(names: list[str]) -> list[str]:
    """Strip class names and raise ValueError for empty or duplicate (case-insensitive) ones."""
    clean = [str(n).strip() for n in names]
    for i, name in enumerate(clean):
        if not name:
            raise ValueError(f"Class {i + 1} has an empty name. Give every class a name.")
    seen: dict[str, str] = {}
    for name in clean:
        if name.lower() in seen:
            raise ValueError(f"Two classes are called “{name}”. Class names must be different.")
        seen[name.lower()] = name
    return clean


def from_classes(per_class: dict[str, list[Image.Image]] | list[tuple[str, list[Image.Image]]]) -> DataSet:
    """Build a DataSet from {class name: [images]} (Teachable-Machine style collection).

    Raises:
        ValueError: empty or duplicate class names (classes without images are kept, `validate` catches them).
    """
    items = list(per_class.items()) if isinstance(per_class, dict) else list(per_class)
    classes = check_class_names([name for name, _ in items])
    samples = [(img, label) for label, (_, imgs) in enumerate(items) for img in imgs]
    return DataSet(samples, classes)


def validate(data: DataSet, val_fraction: float) -> None:
    """Raise ValueError with a student-facing message if `data` cannot be split and trained on.

    Checks: at least 2 classes with images, unique non-empty names, at least 2 images per class,
    and enough images per class for one training and one validation image at `val_fraction`.
    """
    check_class_names(data.classes)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("The validation share must be between 0% and 100% (exclusive).")
    counts = data.counts()
    if len(data.classes) < 2:
        found = f"only “{data.classes[0]}”" if data.classes else "none"
        raise ValueError(f"A classifier needs at least 2 classes with images; this data has {found}. Add a second "
                         "class: another class box, or another folder of images in the zip.")
    for name, n in counts.items():
        if n < 2:
            raise ValueError(f"Class “{name}” has {n} image{'s' * (n != 1)}; every class needs at least 2 "
                             "(one to train on, one to validate). Add images or remove the class.")
        n_val = _n_val(n, val_fraction)
        if n_val < 1 or n - n_val < 1:
            raise ValueError(f"Class “{name}” has only {n} images: with {val_fraction:.0%} for validation it gets "
                             f"{n - n_val} for training and {n_val} for validation. Add images or move the slider.")


def _n_val(n: int, val_fraction: float) -> int:
    return int(round(n * val_fraction))


def split(data: DataSet, val_fraction: float = 0.2, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """Stratified, seeded train/validation split.

    Each class contributes round(n * val_fraction) images to validation, chosen by a shuffle
    seeded with `seed`, so every class is in both parts in the same proportion.

    Returns:
        (train samples, validation samples), each ordered by class then shuffled position.

    Raises:
        ValueError: see `validate`.
    """
    validate(data, val_fraction)
    rng = random.Random(seed)
    by_class: dict[int, list[Sample]] = {}
    for sample in data.samples:
        by_class.setdefault(sample[1], []).append(sample)
    train: list[Sample] = []
    val: list[Sample] = []
    for label in sorted(by_class):
        items = list(by_class[label])
        rng.shuffle(items)
        k = _n_val(len(items), val_fraction)
        val += items[:k]
        train += items[k:]
    return train, val


# --- generated demo data ------------------------------------------------------------------

SHAPES = ("circle", "square", "triangle", "star")


def _shape_polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        pts = [(math.cos(angle + k * math.pi / 2 + math.pi / 4), math.sin(angle + k * math.pi / 2 + math.pi / 4))
               for k in range(4)]
    elif kind == "triangle":
        pts = [(math.cos(angle + k * 2 * math.pi / 3), math.sin(angle + k * 2 * math.pi / 3)) for k in range(3)]
    else:  # star: 5 outer points, 5 inner points at 40% radius
        pts = [((1.0 if k % 2 == 0 else 0.4) * math.cos(angle + k * math.pi / 5),
                (1.0 if k % 2 == 0 else 0.4) * math.sin(angle + k * math.pi / 5)) for k in range(10)]
    return [(cx + r * x, cy + r * y) for x, y in pts]


def draw_shape(kind: str, rng: random.Random, size: int = 96) -> Image.Image:
    """One RGB image of `kind` (one of SHAPES): random colour, size, position, rotation and background.

    The background is a random colour gradient with noise speckles; the shape's radius is 18-40%
    of the image side and it always lies fully inside the image.
    """
    c0 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    c1 = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    bg = (c0 * (1 - t) + c1 * t) * np.ones((size, size, 1), dtype=np.float32)
    if rng.random() < 0.5:
        bg = bg.transpose(1, 0, 2)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 12, bg.shape)
    img = Image.fromarray(np.clip(bg + noise, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    r = rng.uniform(0.18, 0.40) * size
    cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
    # A colour far from the local background keeps the shape visible.
    mean_bg = (c0 + c1) / 2
    while True:
        colour = tuple(rng.randrange(256) for _ in range(3))
        if np.abs(np.array(colour) - mean_bg).sum() > 150:
            break
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon(_shape_polygon(kind, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=colour)
    return img


def demo_shapes(per_class: int = 40, classes: tuple[str, ...] = SHAPES[:3], size: int = 96, seed: int = 0) -> DataSet:
    """The generated demo data set: `per_class` images of each shape in `classes`.

    Same arguments give the same images (a `random.Random(seed)` drives every choice).
    """
    unknown = [c for c in classes if c not in SHAPES]
    if unknown:
        raise ValueError(f"Unknown shape {unknown[0]!r}; choose from {', '.join(SHAPES)}.")
    rng = random.Random(seed)
    samples = [(draw_shape(kind, rng, size), label) for _ in range(per_class) for label, kind in enumerate(classes)]
    return DataSet(samples, list(classes))


def digits(per_class: int | None = None, size: int = 32) -> DataSet:
    """scikit-learn's handwritten digits (8x8, 16 grey levels), upscaled to `size` px as RGB images.

    The 8x8 digit is scaled to 0-255 and resized with bilinear interpolation onto a 4-pixel border
    (`size` 32: a 24x24 digit, like MNIST's 20x20 digit in a 28x28 frame). `per_class` keeps the
    first n images of each digit (None: all 1,797).
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    inner = size - 8
    samples: list[Sample] = []
    taken = [0] * 10
    for pixels, label in zip(bunch.images, bunch.target):
        if per_class is not None and taken[label] >= per_class:
            continue
        taken[label] += 1
        small = Image.fromarray((pixels * (255.0 / 16.0)).astype(np.uint8), "L")
        canvas = Image.new("L", (size, size), 0)
        canvas.paste(small.resize((inner, inner), Image.Resampling.BILINEAR), (4, 4))
        samples.append((canvas.convert("RGB"), int(label)))
    return DataSet(samples, [str(d) for d in range(10)])


def downscale(img: Image.Image, side: int = STORE_SIDE) -> Image.Image:
    """A copy of `img` with its longest side at most `side` pixels (aspect ratio kept), in RGB."""
    img = img.convert("RGB")
    if max(img.size) > side:
        img = img.copy()
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
    return img


def load_upload(data: bytes) -> Image.Image:
    """Decode one uploaded file for training: `images.load_image`, stored at `STORE_SIDE` px."""
    return images.load_image(data, max_side=STORE_SIDE)


# --- zip of class folders -------------------------------------------------------------------

class ZipError(ValueError):
    """A zip upload that is refused as a whole; the message is meant for a student."""


_IGNORED_PARTS = ("__MACOSX",)


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.filename
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or "\\" in name:
        raise ZipError(f"The zip contains an absolute or Windows-style path ({name!r}); refusing it. "
                       "Zip the class folders themselves.")
    if ".." in PurePosixPath(name).parts:
        raise ZipError(f"The zip contains a path that leaves its folder ({name!r}); refusing it.")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ZipError(f"The zip contains a symbolic link ({name!r}); refusing it. Zip real image files.")
    if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise ZipError(f"The zip entry {name!r} expands {info.file_size / max(info.compress_size, 1):.0f} times "
                       "its compressed size, which images never do: refusing it as a possible zip bomb.")


def read_zip(data: bytes, max_bytes: int = MAX_ZIP_BYTES, max_pixels: int = MAX_SESSION_PIXEL_BYTES) -> DataSet:
    """Read a zip of class folders: `cats/1.jpg, dogs/2.png, ...` (optionally inside one top folder).

    Every entry is checked before anything is decompressed; entries are then read with a cap
    on the bytes actually produced, so a lying header cannot exceed the limits either.

    Returns:
        A DataSet with classes sorted by folder name; unreadable files are in `skipped`.

    Raises:
        ZipError: not a zip, over `max_bytes`, an absolute path, `..`, a symlink, an entry or a
            total uncompressed size out of proportion, too many files, more than `max_pixels`
            bytes of decoded pixels, or no class folders at all.
    """
    if len(data) > max_bytes:
        raise ZipError(f"The zip is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB. "
                       "Use fewer or smaller photos.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ZipError("This file is not a zip archive that can be read. Upload a .zip of class folders.") from None
    for info in infos:
        _check_entry(info)
    files = [i for i in infos if not i.is_dir()]
    if len(files) > MAX_FILES:
        raise ZipError(f"The zip holds {len(files):,} files; the limit is {MAX_FILES:,}.")
    total = sum(i.file_size for i in files)
    if total > MAX_UNZIPPED_BYTES or total > MAX_RATIO * max(len(data), 1) + 1024 * 1024:
        raise ZipError(f"The zip would expand to {total / 1e6:.0f} MB from {len(data) / 1e6:.1f} MB: out of "
                       "proportion for photos, so it is refused as a possible zip bomb.")
    wanted = []
    for info in files:
        parts = PurePosixPath(info.filename).parts
        if any(p in _IGNORED_PARTS or p.startswith(".") for p in parts):
            continue  # macOS metadata and hidden files (.DS_Store)
        wanted.append((info, parts))
    # One common top folder (the zip of a folder that holds the class folders) is stripped.
    if wanted and all(len(p) >= 3 for _, p in wanted) and len({p[0] for _, p in wanted}) == 1:
        wanted = [(i, p[1:]) for i, p in wanted]
    per_class: dict[str, list[Image.Image]] = {}
    skipped: list[tuple[str, str]] = []
    budget = MAX_UNZIPPED_BYTES
    pixels = 0
    for info, parts in wanted:
        if len(parts) != 2:
            skipped.append((info.filename, "not inside a class folder (expected class_name/image.jpg)"))
            continue
        try:
            with archive.open(info) as handle:
                raw = handle.read(min(info.file_size, budget) + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            skipped.append((info.filename, f"damaged or encrypted inside the zip ({exc.__class__.__name__})"))
            continue
        budget -= len(raw)
        if len(raw) > info.file_size or budget < 0:
            raise ZipError(f"The zip entry {info.filename!r} is larger than its header says; refusing the zip.")
        try:
            img = load_upload(raw)
        except images.ImageError as exc:
            skipped.append((info.filename, str(exc)))
            continue
        pixels += img.width * img.height * len(img.getbands())
        if pixels > max_pixels:
            raise ZipError(f"The zip's images take more than {max_pixels / 2**20:.0f} MB once decoded at "
                           f"{STORE_SIDE} px, the most one student's data may hold on this server (about "
                           f"{max_pixels // (STORE_SIDE * STORE_SIDE * 3)} square photos). Use fewer images per class.")
        per_class.setdefault(parts[0].strip(), []).append(img)
    if not per_class:
        raise ZipError("No images were found in class folders. The zip must hold one folder per class, "
                       "e.g. cats/1.jpg and dogs/2.jpg.")
    out = from_classes(sorted(per_class.items()))
    out.skipped = skipped
    return out
