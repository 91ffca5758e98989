"""Data preparation for the budget-model-training task (ImageNet-100).

    python scripts/prepare.py --raw RAW --out DIR      # RAW holds the [[data.files]] parquet shards
    python scripts/prepare.py --generated --out DIR    # small class-coloured textures, offline

Layout written (both modes):

    DIR/public/data/train_images.npy   uint8 (N, S, S, 3), RGB, channels last
    DIR/public/data/train_labels.npy   int64 (N,), classes 0..99
    DIR/private/test_images.npy        uint8 (M, S, S, 3): the hidden test images
    DIR/private/test_labels.npy        int64 (M,)

Real mode: the shards of clane9/imagenet-100 (columns image = {bytes, path} JPEG, label =
0..99); train_per_class training images per class (every one of a class that has fewer) are
drawn with a fixed seed from the train split, test_per_class test images per class from the
validation split (50 per class there), both shuffled (the test order must say nothing of the
classes). Each image's shorter side is resized to image_size pixels (bilinear), then
centre-cropped. image_size, train_per_class and test_per_class are the form's [params] in
task.toml ($MLAB_TASK_PARAMS, set by mlab-hpc prepare).

--generated: 100 classes of class-coloured stripe textures under noise (10 hues x 10 stripe
directions and frequencies), 32x32 pixels, 20 training and 5 test images per class, so that
a small CNN learns something in seconds. The output is byte-identical on every run.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

try:
    from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main, task_params
except ModuleNotFoundError:
    sys.exit("prepare.py needs the mlab_hpc package (pip install -e .)")

SEED = 100
CLASSES = 100
REAL_KEYS = ("image_size", "train_per_class", "test_per_class")  # [params] the real mode reads
GENERATED = {"image_size": 32, "train_per_class": 20, "test_per_class": 5}


def write_split(out: Path, train: tuple[np.ndarray, np.ndarray],
                test: tuple[np.ndarray, np.ndarray]) -> None:  # fmt: skip
    """The public training arrays and the private test arrays."""
    public, private = out / "public" / "data", out / "private"
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)
    np.save(public / "train_images.npy", train[0])
    np.save(public / "train_labels.npy", train[1].astype(np.int64))
    np.save(private / "test_images.npy", test[0])
    np.save(private / "test_labels.npy", test[1].astype(np.int64))


# --- generated ----------------------------------------------------------------------------------


def texture(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One image of class ``label``: its hue (label // 10) in stripes of its direction and
    frequency (label % 10), a random phase, under noise."""
    hue = (label // 10) / 10
    colour = 255 * (0.5 + 0.45 * np.cos(2 * np.pi * (hue + np.array([0.0, 1 / 3, 2 / 3]))))
    pattern = label % 10
    angle = np.pi * (pattern % 5) / 5
    frequency = 2 + 3 * (pattern // 5)
    y, x = np.mgrid[0:size, 0:size] / size
    phase = rng.uniform(0, 2 * np.pi)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle))
                              + phase)  # fmt: skip
    image = wave[..., None] * colour + rng.normal(0, 25, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def generated_set(per_class: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    labels = np.repeat(np.arange(CLASSES), per_class)
    rng.shuffle(labels)
    return np.stack([texture(int(c), size, rng) for c in labels]), labels


def prepare_generated(out: Path) -> None:
    settings = GENERATED
    rng = np.random.default_rng(SEED)
    size = int(settings["image_size"])
    train = generated_set(int(settings["train_per_class"]), size, rng)
    test = generated_set(int(settings["test_per_class"]), size, rng)
    write_split(out, train, test)


# --- real ---------------------------------------------------------------------------------------


def resize_crop(jpeg: bytes, size: int) -> np.ndarray:
    """A JPEG as uint8 (size, size, 3): shorter side resized to ``size``, centre-cropped."""
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as image:
        image = image.convert("RGB")
        scale = size / min(image.size)
        width, height = (
            max(size, round(image.width * scale)),
            max(size, round(image.height * scale)),
        )
        image = image.resize((width, height), Image.Resampling.BILINEAR)
        left, top = (width - size) // 2, (height - size) // 2
        return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def sample(shards: list[Path], per_class: int, size: int, seed: int) -> tuple[np.ndarray, ...]:
    """``per_class`` images of each class (all of a smaller class) drawn with ``seed`` from the
    shards, decoded, in a shuffled order."""
    import pyarrow.parquet as pq

    labels = [pq.read_table(s, columns=["label"]).column("label").to_numpy() for s in shards]
    every = np.concatenate(labels)
    rng = np.random.default_rng(seed)
    chosen: set[int] = set()
    for label in range(CLASSES):
        rows = np.flatnonzero(every == label)
        if len(rows) == 0:
            raise PrepareError(f"class {label} has no image in {shards[0].name}...")
        chosen.update(int(r) for r in rng.choice(rows, min(per_class, len(rows)), replace=False))
    images, kept, offset = [], [], 0
    for shard, shard_labels in zip(shards, labels, strict=True):
        wanted = [r - offset for r in range(offset, offset + len(shard_labels)) if r in chosen]
        if wanted:
            column = pq.read_table(shard, columns=["image"]).column("image")
            for row in wanted:
                images.append(resize_crop(column[row].as_py()["bytes"], size))
                kept.append(int(shard_labels[row]))
        offset += len(shard_labels)
    order = rng.permutation(len(kept))  # shuffled: the order says nothing of the classes
    return np.stack(images)[order], np.array(kept, dtype=np.int64)[order]


def prepare_raw(raw: Path, out: Path) -> None:
    settings = task_params(REAL_KEYS)
    size = int(settings["image_size"])
    train_shards = sorted(raw.glob("train-*.parquet"))
    test_shards = sorted(raw.glob("validation-*.parquet"))
    if len(train_shards) != 17 or not test_shards:
        raise PrepareError(f"{raw} lacks shards of clane9/imagenet-100; run prepare again")
    train = sample(train_shards, int(settings["train_per_class"]), size, SEED)
    test = sample(test_shards, int(settings["test_per_class"]), size, SEED + 1)
    write_split(out, train, test)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
