"""Data preparation for the cifar10 task.

    python scripts/prepare.py --raw RAW --out DIR     # RAW holds cifar-10-python.tar.gz
    python scripts/prepare.py --generated --out DIR   # a small synthetic data set, offline

RAW holds the archive torchvision downloads, cifar-10-python.tar.gz, as delivered (not
unpacked). In its folder cifar-10-batches-py/ the python pickles data_batch_1 .. data_batch_5
(the training set, in this order) and test_batch (the official test set) each hold "data",
uint8 rows of 3072 values (the 1024 red, then green, then blue values of a 32x32 image, row
by row), and "labels", class numbers 0 to 9. They were written by Python 2; like torchvision
we read them with the latin1 encoding.

The published split is kept. DIR/public/data/ gets

    train_images.npy   uint8 (50000, 3, 32, 32), channels first
    train_labels.npy   int64 (50000,)
    test_images.npy    uint8 (10000, 3, 32, 32), in the order of test_batch

and DIR/private/answer.csv the test labels (columns index, label). The pickles are read with
an unpickler that only admits numpy arrays, so a tampered archive cannot run code.

--generated writes 1,000 training and 200 test images in the same layout, whose class shows
in their colour and stripes under noise. The output is byte-identical on every run.
"""

from __future__ import annotations

import csv
import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{number}" for number in range(1, 6))
TEST_BATCH = "test_batch"
BATCHES = (*TRAIN_BATCHES, TEST_BATCH)
ARCHIVE = "cifar-10-python.tar.gz"
N_CLASSES = 10
SIDE = 32
ROW_LENGTH = 3 * SIDE * SIDE
GENERATED_TRAIN = 1000
GENERATED_TEST = 200
GENERATED_SEED = 20_240_610
# Ten mean colours for the generated classes: the corners of a cube inside the RGB cube, and
# two greys.
PALETTE = np.array(
    [[r, g, b] for r in (60, 190) for g in (60, 190) for b in (60, 190)] + [[95] * 3, [155] * 3],
    dtype=float,
)


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler for CIFAR batches: only numpy arrays and bytes may be rebuilt."""

    ALLOWED = {
        ("_codecs", "encode"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise PrepareError(f"it refers to {module}.{name}, which is not allowed")
        return super().find_class(module, name)


def load_batch(name: str, content: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 3, 32, 32) uint8 and labels (n,) int64 of one pickled batch."""
    try:
        batch = ArrayUnpickler(io.BytesIO(content), encoding="latin1").load()
    except (PrepareError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise PrepareError(f"{name} is not a readable CIFAR batch: {error}") from None
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise PrepareError(f"{name} has no 'data' and 'labels' entries")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != ROW_LENGTH:
        raise PrepareError(f"{name}: data is {data.dtype} {data.shape}, not uint8 (n, 3072)")
    if labels.shape != (len(data),):
        raise PrepareError(f"{name}: {len(labels)} labels for {len(data)} images")
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise PrepareError(f"{name}: labels outside 0..9 ({labels.min()} to {labels.max()})")
    return data.reshape(-1, 3, SIDE, SIDE), labels.astype(np.int64)


def read_raw(raw: Path) -> dict[str, bytes]:
    """The pickled batches by name, from RAW/cifar-10-python.tar.gz (left packed)."""
    archive = raw / ARCHIVE
    if not archive.is_file():
        raise PrepareError(f"no {ARCHIVE} in {raw}")
    with tarfile.open(archive, "r:gz") as tar:
        members = {
            Path(member.name).name: member
            for member in tar.getmembers()
            if member.isfile() and Path(member.name).parent.name == FOLDER
        }
        missing = [name for name in BATCHES if name not in members]
        if missing:
            raise PrepareError(f"{ARCHIVE} has no {FOLDER}/{missing[0]}")
        return {name: read_member(tar, members[name]) for name in BATCHES}


def read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """The bytes of one regular file of the archive."""
    file = tar.extractfile(member)
    if file is None:
        raise PrepareError(f"{member.name} in {ARCHIVE} is not a regular file")
    return file.read()


def write(
    out: Path, train_images: np.ndarray, train_labels: np.ndarray, test: np.ndarray, answer: Any
) -> None:
    """Write public/data/*.npy and private/answer.csv."""
    data = out / "public" / "data"
    data.mkdir(parents=True, exist_ok=True)
    np.save(data / "train_images.npy", np.ascontiguousarray(train_images, dtype=np.uint8))
    np.save(data / "train_labels.npy", np.asarray(train_labels, dtype=np.int64))
    np.save(data / "test_images.npy", np.ascontiguousarray(test, dtype=np.uint8))
    private = out / "private"
    private.mkdir(parents=True, exist_ok=True)
    with (private / "answer.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["index", "label"])
        writer.writerows((index, int(label)) for index, label in enumerate(answer))


def prepare_raw(raw: Path, out: Path) -> None:
    """The published split: the five training batches in order, the test batch held out."""
    batches = read_raw(raw)
    train = [load_batch(name, batches[name]) for name in TRAIN_BATCHES]
    test_images, test_labels = load_batch(TEST_BATCH, batches[TEST_BATCH])
    train_images = np.concatenate([images for images, _ in train])
    train_labels = np.concatenate([labels for _, labels in train])
    write(out, train_images, train_labels, test_images, test_labels)


# --- --generated ---------------------------------------------------------------------------


def generated_images(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """Noisy 32x32 images whose colour and stripe direction and width follow the label."""
    palette = PALETTE  # a mean colour per class
    period = 4 + 2 * (np.arange(N_CLASSES) % 3)  # stripe widths 4, 6, 8 pixels
    vertical = np.arange(N_CLASSES) % 2 == 1
    rows, columns = np.mgrid[0:SIDE, 0:SIDE]
    images = np.empty((len(labels), 3, SIDE, SIDE))
    for index, label in enumerate(labels):
        along = columns if vertical[label] else rows
        phase = rng.uniform(0, 2 * np.pi)
        stripes = 35 * np.sin(2 * np.pi * along / period[label] + phase)
        shade = rng.normal(0, 20)  # brightness varies from image to image
        noise = rng.normal(0, 25, size=(3, SIDE, SIDE))
        images[index] = palette[label][:, None, None] + stripes + shade + noise
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def prepare_generated(out: Path, seed: int = GENERATED_SEED) -> None:
    """A small synthetic set in the real layout."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, size=GENERATED_TRAIN + GENERATED_TEST)
    images = generated_images(rng, labels)
    train, test = slice(0, GENERATED_TRAIN), slice(GENERATED_TRAIN, None)
    write(out, images[train], labels[train], images[test], labels[test])


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated,
                 errors=(tarfile.TarError, OSError))  # fmt: skip
