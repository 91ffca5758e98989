"""Data preparation for the budget-model-inference task (UltraMNIST digit sums).

    python scripts/prepare.py --raw RAW --out DIR      # RAW: the ultra-mnist competition files
    python scripts/prepare.py --generated --out DIR    # digits drawn from a bitmap font, offline

Layout written (both modes):

    DIR/public/data/train_images.npy   uint8 (N, S, S), grey
    DIR/public/data/train_labels.npy   int64 (N,), the digit sums (0..45)
    DIR/private/test_images.npy        uint8 (M, S, S): the hidden test images
    DIR/private/test_labels.npy        int64 (M,)

Real mode: the Kaggle competition "ultra-mnist" delivers train.csv (id, digit_sum) and the
labelled 4000x4000 images train/<id>.jpeg (.jpg and .png are read too; its test images carry
no labels, so they are not used). test_images images are held out with a fixed seed as our
hidden test set and train_images others drawn for training; each image is reduced to
image_size pixels (box filter, which keeps thin strokes visible). image_size, train_images
and test_images are the form's [params] in task.toml ($MLAB_TASK_PARAMS, set by mlab-hpc
prepare).

--generated: 128x128 canvases, each with 3 to 5 digits drawn from a 5x7 bitmap font, scaled
to heights between 14 and 70 pixels, thickened and jittered, at random places (overlaps
avoided where possible), under faint noise; the label is their sum. 600 training and 100 test
images. The output is byte-identical on every run.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

try:
    from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main, task_params
except ModuleNotFoundError:
    sys.exit("prepare.py needs the mlab_hpc package (pip install -e .)")

SEED = 45
REAL_KEYS = ("image_size", "train_images", "test_images")  # [params] the real mode reads
GENERATED = {"image_size": 128, "train_images": 600, "test_images": 100}

# A 5x7 bitmap font: seven rows of five pixels per digit ("#" = ink).
FONT = {
    0: (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    1: ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    2: (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    3: ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    4: ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    5: ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    6: ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    7: ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    8: (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    9: (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
}


def glyph(digit: int) -> np.ndarray:
    """The digit's 7x5 bitmap (1 = ink)."""
    return np.array([[c == "#" for c in row] for row in FONT[digit]], dtype=float)


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


def draw_digit(canvas: np.ndarray, digit: int, height: int, top: int, left: int,
               rng: np.random.Generator) -> None:  # fmt: skip
    """Draw ``digit`` ``height`` pixels tall at (top, left): the bitmap scaled up by nearest
    neighbour, its strokes thickened by one cell, a random ink intensity."""
    bitmap = glyph(digit)
    width = max(3, round(height * 5 / 7))
    rows = (np.arange(height) * 7 // height).clip(0, 6)
    cols = (np.arange(width) * 5 // width).clip(0, 4)
    ink = bitmap[np.ix_(rows, cols)]
    thick = max(1, height // 14)
    grown = ink.copy()
    for shift in range(1, thick):
        grown[:, shift:] = np.maximum(grown[:, shift:], ink[:, :-shift])
    region = canvas[top : top + height, left : left + width]
    np.maximum(region, grown * rng.uniform(170, 255), out=region)


def canvas_image(size: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One canvas with 3 to 5 digits of very different sizes; (image, digit sum)."""
    canvas = np.zeros((size, size))
    taken = np.zeros((size, size), bool)
    total = 0
    for _ in range(int(rng.integers(3, 6))):
        digit = int(rng.integers(0, 10))
        height = int(rng.integers(size // 9, size * 11 // 20))
        width = max(3, round(height * 5 / 7))
        for _attempt in range(20):  # a free place if there is one, else the last tried
            top = int(rng.integers(0, size - height))
            left = int(rng.integers(0, size - width))
            if not taken[top : top + height, left : left + width].any():
                break
        taken[top : top + height, left : left + width] = True
        draw_digit(canvas, digit, height, top, left, rng)
        total += digit
    canvas += rng.normal(0, 8, canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8), total


def generated_set(count: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    pairs = [canvas_image(size, rng) for _ in range(count)]
    return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=np.int64)


def prepare_generated(out: Path) -> None:
    settings = GENERATED
    rng = np.random.default_rng(SEED)
    size = int(settings["image_size"])
    train = generated_set(int(settings["train_images"]), size, rng)
    test = generated_set(int(settings["test_images"]), size, rng)
    write_split(out, train, test)


# --- real ---------------------------------------------------------------------------------------


def reduce(path: Path, size: int) -> np.ndarray:
    """One competition image as uint8 (size, size), grey, box-filtered."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # the images are 4000x4000: trusted competition files
    with Image.open(path) as image:
        image.draft("L", (size, size))  # JPEG: decode at a reduced scale where possible
        grey = image.convert("L").resize((size, size), Image.Resampling.BOX)
        return np.asarray(grey, dtype=np.uint8)


def prepare_raw(raw: Path, out: Path) -> None:
    settings = task_params(REAL_KEYS)
    size = int(settings["image_size"])
    found = sorted(raw.rglob("train.csv"))
    if not found:
        raise PrepareError(f"no train.csv under {raw}: run prepare again")
    with found[0].open(newline="") as handle:
        rows = [(row["id"], int(row["digit_sum"])) for row in csv.DictReader(handle)]
    images = {
        p.stem: p
        for p in raw.rglob("*")
        if p.parent.name == "train" and p.suffix.lower() in (".jpeg", ".jpg", ".png")
    }
    missing = [ident for ident, _ in rows if ident not in images]
    if missing:
        raise PrepareError(f"no image train/{missing[0]}.* under {raw}: run prepare again")
    n_test, n_train = int(settings["test_images"]), int(settings["train_images"])
    order = np.random.default_rng(SEED).permutation(len(rows))
    if n_test + n_train > len(rows):
        raise PrepareError(f"{n_test} + {n_train} images asked, train.csv has {len(rows)}")

    def split(chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        picked = [rows[int(i)] for i in chosen]
        stack = np.stack([reduce(images[ident], size) for ident, _ in picked])
        return stack, np.array([label for _, label in picked], dtype=np.int64)

    test = split(order[:n_test])
    train = split(order[n_test : n_test + n_train])
    write_split(out, train, test)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
