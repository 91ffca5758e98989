"""Data preparation for the fathomnet task.

    python scripts/prepare.py --raw RAW --out DIR         # RAW: the Kaggle files (+ images/)
    python scripts/prepare.py --generated --out DIR       # a small synthetic data set, offline

RAW holds the competition's files as Kaggle delivers them once unzipped (a zip left packed in
RAW is unpacked first): category_key.csv, sample_submission.csv,
multilabel_classification/train.csv, object_detection/train.json and object_detection/eval.json.
Only the labelled images (multilabel_classification/train.csv, whose ids are the stems of the
file_names in object_detection/train.json) are used; the competition's eval images have no
labels. Images are read from RAW/images/<file_name>; when RAW has no images/ folder, the images
of the split are downloaded from their coco_url with mlab_hpc.data.fetch_url.

The split: a seeded shuffle (numpy default_rng(42).permutation), the first floor(98 n / 100)
images for training, the rest held out. Out-of-sample truth: categories present in held-out
images are drawn in a seeded order (default_rng(2023)) and kept as "out-of-sample" while that
removes at most 10% of the training images and marks at most half of the held-out images, until
at least a fifth of the held-out images are marked. Training images that show an out-of-sample
category are dropped; a held-out image is out-of-sample (osd = 1) iff it shows one.

DIR/public/ (the agent's): category_key.csv, multilabel_classification/train.csv (kept rows, as
text, in shuffled order), object_detection/train.json (kept images and their annotations),
object_detection/eval.json (the held-out images, no annotations), sample_submission.csv and
images/ (kept and held-out images, unchanged). DIR/private/: answer.csv (id, categories as
space-separated ascending ids, osd 0/1) and out_of_sample_categories.csv (id, name).

--generated writes 500 images of 64x64 pixels with 20 categories in the same layout: every
category is a coloured shape, images show one to three categories. PNGs are written by a small
encoder here (stored deflate blocks, no compression library), so the output is byte-identical
on every run.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main, write_csv

SPLIT_SEED = 42
TRAIN_PERCENT = 98
OOS_SEED = 2023
MAX_TRAIN_DROP = 0.10  # at most this share of training images may be dropped
MAX_OOS_SHARE = 0.5  # at most this share of held-out images may be out-of-sample
TARGET_OOS_SHARE = 0.2  # stop choosing categories once this share is out-of-sample
DOWNLOAD_THREADS = 8
KAGGLE_FILES = (
    "category_key.csv",
    "multilabel_classification/train.csv",
    "object_detection/train.json",
    "object_detection/eval.json",
)


# --- the real data -------------------------------------------------------------------------


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write a JSON document (one line, key order kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document) + "\n", encoding="utf-8")


def unpack_zips(raw: Path) -> None:
    """Unpack a competition zip left packed in RAW (only when its files are not there yet)."""
    if (raw / KAGGLE_FILES[1]).is_file():
        return
    for archive in sorted(raw.glob("*.zip")):
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(raw)


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and non-empty rows of a CSV file."""
    text = path.read_bytes().decode("utf-8-sig")
    table = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if not table:
        raise PrepareError(f"{path.name} is empty")
    return table[0], table[1:]


def parse_categories(text: str, where: str) -> set[int]:
    """The category ids of a train.csv cell such as "[1.0, 9.0]"."""
    try:
        values = ast.literal_eval(text)
        ids = {int(value) for value in values}
        if any(float(value) != int(value) for value in values):
            raise ValueError(text)
    except (ValueError, TypeError, SyntaxError):
        raise PrepareError(f"{where}: categories {text!r} is not a list of ids") from None
    if not ids:
        raise PrepareError(f"{where}: no categories")
    return ids


def read_labels(raw: Path) -> tuple[list[str], list[list[str]], list[set[int]]]:
    """train.csv's header, rows and the category ids of each row, checked."""
    header, rows = read_csv_rows(raw / KAGGLE_FILES[1])
    if header[:2] != ["id", "categories"]:
        raise PrepareError(f"train.csv starts with {header[:2]}, not id, categories")
    if len(rows) < 10:
        raise PrepareError(f"train.csv has {len(rows)} images; at least 10 are needed")
    seen: set[str] = set()
    labels = []
    for number, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise PrepareError(f"train.csv row {number} has {len(row)} fields, not {len(header)}")
        if row[0] in seen:
            raise PrepareError(f"train.csv row {number} repeats id {row[0]}")
        seen.add(row[0])
        labels.append(parse_categories(row[1], f"train.csv row {number}"))
    return header, rows, labels


def choose_out_of_sample(
    labels: Sequence[set[int]], train: Sequence[int], test: Sequence[int]
) -> list[int]:
    """The out-of-sample categories (see the module docstring), in the order chosen."""
    candidates = sorted(set().union(*(labels[i] for i in test)))
    order = np.random.default_rng(OOS_SEED).permutation(len(candidates))
    chosen: list[int] = []
    for index in order:
        trial = {*chosen, candidates[index]}
        marked = sum(1 for i in test if labels[i] & trial)
        dropped = sum(1 for i in train if labels[i] & trial)
        if marked > MAX_OOS_SHARE * len(test) or dropped > MAX_TRAIN_DROP * len(train):
            continue
        chosen.append(candidates[index])
        if marked >= math.ceil(TARGET_OOS_SHARE * len(test)):
            break
    if not chosen:
        raise PrepareError("no category can be held out as out-of-sample within the limits")
    return chosen


def image_entries(document: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """The image entries of a COCO document by id (the file_name's stem)."""
    entries = {}
    for entry in document.get("images", []):
        if "file_name" not in entry or "id" not in entry:
            raise PrepareError(f"{where}: an image entry has no file_name or id")
        entries[Path(entry["file_name"]).stem] = entry
    return entries


def fetch_images(entries: Sequence[dict[str, Any]], folder: Path) -> None:
    """Download the images of `entries` from their coco_url into `folder` (skip those there)."""
    try:
        from mlab_hpc.data import fetch_url
    except ImportError:
        raise PrepareError(
            "RAW has no images/ folder and mlab_hpc.data.fetch_url is not available to download"
            " them: put the images in RAW/images/"
        ) from None
    folder.mkdir(parents=True, exist_ok=True)
    missing = [entry for entry in entries if not (folder / entry["file_name"]).is_file()]
    for entry in missing:
        if not entry.get("coco_url"):
            raise PrepareError(f"image {entry['file_name']} has no coco_url to download it from")
    with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
        jobs = [
            pool.submit(fetch_url, entry["coco_url"], folder / entry["file_name"])
            for entry in missing
        ]
        for job in jobs:
            job.result()


def split(raw: Path, out: Path) -> None:
    """Write DIR/public and DIR/private from the Kaggle files in RAW."""
    unpack_zips(raw)
    for name in KAGGLE_FILES:
        if not (raw / name).is_file():
            raise PrepareError(f"{name} is missing from {raw}")
    header, rows, labels = read_labels(raw)
    train_doc = json.loads((raw / KAGGLE_FILES[2]).read_text(encoding="utf-8"))
    eval_doc = json.loads((raw / KAGGLE_FILES[3]).read_text(encoding="utf-8"))
    entries = image_entries(train_doc, "train.json")
    absent = [row[0] for row in rows if row[0] not in entries]
    if absent:
        raise PrepareError(
            f"{len(absent)} ids of train.csv have no image in train.json: {absent[0]}"
        )

    order = [int(i) for i in np.random.default_rng(SPLIT_SEED).permutation(len(rows))]
    n_train = len(rows) * TRAIN_PERCENT // 100
    train, test = order[:n_train], order[n_train:]
    held_out = choose_out_of_sample(labels, train, test)
    kept = [i for i in train if not labels[i] & set(held_out)]
    kept_entries = [entries[rows[i][0]] for i in kept]
    test_entries = [entries[rows[i][0]] for i in test]

    copy_images(raw / "images", kept_entries + test_entries, out / "public" / "images")
    public = out / "public"
    shutil.copyfile(raw / KAGGLE_FILES[0], public / "category_key.csv")
    write_csv(public / KAGGLE_FILES[1], header, (rows[i] for i in kept))
    kept_ids = {entry["id"] for entry in kept_entries}
    in_file_order = [entry for entry in train_doc["images"] if entry["id"] in kept_ids]
    write_json(public / KAGGLE_FILES[2], only_images(train_doc, in_file_order))
    write_json(public / KAGGLE_FILES[3], only_images(eval_doc, test_entries, annotated=False))
    sample = ((rows[i][0], "1", "0.5") for i in test)
    write_csv(public / "sample_submission.csv", ("id", "categories", "osd"), sample)

    outside = set(held_out)
    answers = (
        (rows[i][0], " ".join(map(str, sorted(labels[i]))), "1" if labels[i] & outside else "0")
        for i in test
    )
    write_csv(out / "private" / "answer.csv", ("id", "categories", "osd"), answers)
    names = category_names(raw / KAGGLE_FILES[0])
    named = ((str(c), names.get(c, "")) for c in sorted(held_out))
    write_csv(out / "private" / "out_of_sample_categories.csv", ("id", "name"), named)


def copy_images(source: Path, entries: Sequence[dict[str, Any]], target: Path) -> None:
    """Copy the images of `entries` from `source` (downloaded first if it does not exist)."""
    if not source.is_dir():
        fetch_images(entries, source)
    target.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        path = source / entry["file_name"]
        if not path.is_file():
            raise PrepareError(
                f"image {entry['file_name']} is missing from {source} "
                "(complete the folder, or remove it to download the images)"
            )
        shutil.copyfile(path, target / entry["file_name"])


def only_images(
    document: dict[str, Any], entries: Sequence[dict[str, Any]], *, annotated: bool = True
) -> dict[str, Any]:
    """`document` (other keys unchanged) with `entries` as its images, and their annotations
    (none unless `annotated`) when it has an annotations list."""
    ids = {entry["id"] for entry in entries}
    result = dict(document)
    result["images"] = list(entries)
    if "annotations" in result:
        notes = result["annotations"] if annotated else []
        result["annotations"] = [note for note in notes if note.get("image_id") in ids]
    return result


def category_names(path: Path) -> dict[int, str]:
    """Category id -> name from category_key.csv (empty when the columns are not there)."""
    header, rows = read_csv_rows(path)
    if "id" not in header or "name" not in header:
        return {}
    return {int(row[header.index("id")]): row[header.index("name")] for row in rows}


# --- --generated ---------------------------------------------------------------------------

GENERATED_IMAGES = 500
GENERATED_SEED = 20_230_401
GENERATED_SIZE = 64
SUPERCATS = (
    "Worm", "Feather star", "Sea cucumber", "Squat lobster", "Fish", "Soft coral", "Urchin",
    "Sea star", "Sea fan", "Sea pen", "Barnacle", "Eel", "Glass sponge", "Shrimp",
    "Black coral", "Anemone", "Sea spider", "Gastropod", "Crab", "Stony coral",
)  # fmt: skip
SHAPES = ("disk", "square", "ring", "cross", "bar")


def png_bytes(pixels: np.ndarray) -> bytes:
    """A PNG file of an RGB uint8 array (height, width, 3), with stored (uncompressed) blocks."""
    height, width, _ = pixels.shape
    scanlines = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))
    blocks = []
    for start in range(0, len(scanlines), 65535):
        chunk = scanlines[start : start + 65535]
        final = 1 if start + 65535 >= len(scanlines) else 0
        blocks.append(struct.pack("<BHH", final, len(chunk), len(chunk) ^ 0xFFFF) + chunk)
    stream = b"\x78\x01" + b"".join(blocks) + struct.pack(">I", zlib.adler32(scanlines))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")
    )


def draw(canvas: np.ndarray, shape: str, color: np.ndarray, y: int, x: int, r: int) -> list[float]:
    """Paint one animal: `shape` of radius `r` centred at (y, x); its COCO box [x, y, w, h]."""
    size = canvas.shape[0]
    yy, xx = np.mgrid[0:size, 0:size]
    dy, dx = yy - y, xx - x
    masks = {
        "disk": dy**2 + dx**2 <= r**2,
        "square": (abs(dy) <= r * 0.8) & (abs(dx) <= r * 0.8),
        "ring": (dy**2 + dx**2 <= r**2) & (dy**2 + dx**2 >= (r * 0.55) ** 2),
        "cross": ((abs(dy) <= r // 3) & (abs(dx) <= r)) | ((abs(dx) <= r // 3) & (abs(dy) <= r)),
        "bar": (abs(dy) <= r // 3) & (abs(dx) <= r * 1.3),
    }
    canvas[masks[shape]] = color
    rows, columns = np.nonzero(masks[shape])
    left, top = int(columns.min()), int(rows.min())
    return [float(left), float(top), float(columns.max() + 1 - left), float(rows.max() + 1 - top)]


Boxes = list[tuple[int, list[float]]]  # (category id, COCO box) of each animal of an image


def generated_images(rng: np.random.Generator) -> tuple[list[str], list[Boxes], list[bytes]]:
    """Ids, animals and PNG bytes of the synthetic images."""
    n_cat = len(SUPERCATS)
    colors = rng.integers(60, 256, size=(n_cat, 3))
    weights = 1.0 / np.arange(1, n_cat + 1) ** 0.7
    weights /= weights.sum()
    ids: list[str] = []
    animals: list[Boxes] = []
    pngs: list[bytes] = []
    for _ in range(GENERATED_IMAGES):
        hexes = "".join(rng.choice(list("0123456789abcdef"), size=32))
        ids.append(f"{hexes[:8]}-{hexes[8:12]}-4{hexes[13:16]}-{hexes[16:20]}-{hexes[20:]}")
        count = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
        cats = rng.choice(n_cat, size=count, replace=False, p=weights) + 1
        depth = rng.uniform(0.3, 1.0)
        canvas = np.empty((GENERATED_SIZE, GENERATED_SIZE, 3), dtype=np.float64)
        canvas[...] = np.array([10.0, 40.0, 70.0]) * depth
        canvas += rng.normal(0, 12, size=canvas.shape)
        boxes: Boxes = []
        for cat in (int(c) for c in cats):
            for _ in range(int(rng.integers(1, 3))):
                y, x = (int(v) for v in rng.integers(8, GENERATED_SIZE - 8, size=2))
                color = colors[cat - 1] * rng.uniform(0.75, 1.0)
                shape = SHAPES[(cat - 1) % len(SHAPES)]
                boxes.append((cat, draw(canvas, shape, color, y, x, int(rng.integers(4, 8)))))
        animals.append(boxes)
        pngs.append(png_bytes(np.clip(np.rint(canvas), 0, 255).astype(np.uint8)))
    return ids, animals, pngs


def write_generated_raw(raw: Path) -> None:
    """Write a synthetic competition folder (the Kaggle layout plus images/) into `raw`."""
    rng = np.random.default_rng(GENERATED_SEED)
    ids, animals, pngs = generated_images(rng)
    labels = [sorted({cat for cat, _ in boxes}) for boxes in animals]
    key = ((str(i + 1), f"{name} sp. {i + 1}", name) for i, name in enumerate(SUPERCATS))
    write_csv(raw / "category_key.csv", ("id", "name", "supercat"), key)
    cells = ("[" + ", ".join(f"{c:.1f}" for c in cats) + "]" for cats in labels)
    write_csv(raw / KAGGLE_FILES[1], ("id", "categories"), zip(ids, cells, strict=True))
    categories = [
        {"id": i + 1, "name": f"{name} sp. {i + 1}", "supercategory": name}
        for i, name in enumerate(SUPERCATS)
    ]
    images, annotations = [], []
    for number, (image_id, boxes) in enumerate(zip(ids, animals, strict=True), start=1):
        name = f"{image_id}.png"
        images.append({
            "id": number, "width": GENERATED_SIZE, "height": GENERATED_SIZE, "file_name": name,
            "license": 0, "flickr_url": f"https://example.invalid/{name}",
            "coco_url": f"https://example.invalid/{name}", "date_captured": "2023-03-01 00:00:00",
        })  # fmt: skip
        for cat, box in boxes:
            annotations.append({
                "id": len(annotations) + 1, "image_id": number, "category_id": cat,
                "bbox": box, "area": box[2] * box[3], "iscrowd": 0, "segmentation": [],
            })  # fmt: skip
        (raw / "images").mkdir(parents=True, exist_ok=True)
        (raw / "images" / name).write_bytes(pngs[number - 1])
    info = {"description": "synthetic FathomNet-like images", "version": "1"}
    write_json(raw / KAGGLE_FILES[2], {
        "info": info, "images": images, "annotations": annotations, "categories": categories,
    })  # fmt: skip
    write_json(raw / KAGGLE_FILES[3], {
        "info": info, "images": [], "annotations": [], "categories": categories,
    })  # fmt: skip
    write_csv(raw / "sample_submission.csv", ("id", "categories", "osd"), ())


def prepare_generated(out: Path) -> None:
    """Write the synthetic source files into a scratch folder, then split them like real ones."""
    with tempfile.TemporaryDirectory(prefix="fathomnet-raw-") as scratch:
        write_generated_raw(Path(scratch))
        split(Path(scratch), out)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=split, generated=prepare_generated)
