"""Data preparation for the identify-contrails task.

    python scripts/prepare.py --raw RAW --out DIR         # RAW holds Kaggle's competition files
    python scripts/prepare.py --generated --out DIR       # a small synthetic data set, offline

RAW holds the competition's files as Kaggle delivers them: the folders train/, validation/ and
test/ (one folder per record_id with band_08.npy ... band_16.npy and, in train/ and
validation/, human_pixel_masks.npy; train/ also human_individual_masks.npy), the files
train_metadata.json, validation_metadata.json and sample_submission.csv; or the competition
zip holding them, which is then unpacked in RAW first.

As published, Kaggle's labelled validation set is the test set:

    DIR/public/train/<id>/...            train/ unchanged (every file of every record)
    DIR/public/test/<id>/band_XX.npy     validation/ without its masks
    DIR/public/train_metadata.json       unchanged
    DIR/public/test_metadata.json        validation_metadata.json, unchanged
    DIR/public/sample_submission.csv     record_id,encoded_pixels with "-" for every test record
    DIR/private/test/<id>/human_pixel_masks.npy   the answer key, unchanged

Kaggle's own test/ records (unlabelled) and its sample_submission.csv are not used. Files are
moved, not rewritten, so their bytes are those Kaggle delivered.

--generated writes 24 train and 8 test records in the same layout and dtypes but with 32 x 32
pixel images (Kaggle's are 256 x 256): line-shaped contrails in a few records, colder in the
split-window bands 14 and 15 than the background. The output is byte-identical on every run.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main

BANDS = tuple(range(8, 17))  # GOES-16 ABI bands 08 ... 16
BAND_FILES = tuple(f"band_{band:02d}.npy" for band in BANDS)
MASK = "human_pixel_masks.npy"
INDIVIDUAL = "human_individual_masks.npy"
N_TIMES = 8  # 4 frames before the labelled one, the labelled one (index 4), 3 after
LABELLED = 4
GENERATED_SEED = 20_230_510
GENERATED_SIZE = 32
GENERATED_TRAIN = 24
GENERATED_TEST = 8


# --- --raw -------------------------------------------------------------------------------------


def unpack_if_zipped(raw: Path) -> None:
    """Unpack the competition zip in RAW when train/ and validation/ are not there yet."""
    if (raw / "train").is_dir() and (raw / "validation").is_dir():
        return
    archives = sorted(raw.glob("*.zip"))
    if not archives:
        raise PrepareError(f"no train/ and validation/ folders in {raw} (nor a zip file there)")
    for archive in archives:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(raw)
    if not ((raw / "train").is_dir() and (raw / "validation").is_dir()):
        names = ", ".join(archive.name for archive in archives)
        raise PrepareError(f"{names} holds no train/ and validation/ folders")


def npy_shape(path: Path) -> tuple[int, ...]:
    """The array shape in a .npy file's header, without reading the data."""
    with path.open("rb") as file:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(file)
        else:
            shape, _, _ = np.lib.format.read_array_header_2_0(file)
    return tuple(shape)


def records(folder: Path, needed: tuple[str, ...]) -> list[Path]:
    """The record folders of a split, sorted; PrepareError if one lacks a needed file."""
    found = sorted(path for path in folder.iterdir() if path.is_dir())
    if not found:
        raise PrepareError(f"{folder.name}/ holds no record folders")
    for record in found:
        missing = [name for name in needed if not (record / name).is_file()]
        if missing:
            raise PrepareError(f"{folder.name}/{record.name} has no {', '.join(missing)}")
    return found


def check_mask(path: Path, record: str) -> None:
    """PrepareError unless a pixel mask has the shape H x W x 1."""
    shape = npy_shape(path)
    if len(shape) != 3 or shape[2] != 1:
        raise PrepareError(f"validation/{record}/{MASK} has shape {shape}, not H x W x 1")


def write_sample_submission(path: Path, ids: list[str]) -> None:
    """A submission predicting no contrail pixel ("-") for every test record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("record_id,encoded_pixels\n" + "".join(f"{i},-\n" for i in ids))


def split_raw(raw: Path, out: Path) -> None:
    """Move Kaggle's files from RAW into DIR/public and DIR/private (see the module doc)."""
    unpack_if_zipped(raw)
    for name in ("train_metadata.json", "validation_metadata.json"):
        if not (raw / name).is_file():
            raise PrepareError(f"{name} is missing from {raw}")
    train = records(raw / "train", (*BAND_FILES, MASK))
    validation = records(raw / "validation", (*BAND_FILES, MASK))
    for record in validation:
        check_mask(record / MASK, record.name)
    repeated = {path.name for path in train} & {path.name for path in validation}
    if repeated:
        raise PrepareError(f"record_id {sorted(repeated)[0]} is in both train/ and validation/")

    public, private = out / "public", out / "private"
    public.mkdir(parents=True, exist_ok=True)
    shutil.move(raw / "train", public / "train")
    shutil.move(raw / "train_metadata.json", public / "train_metadata.json")
    shutil.move(raw / "validation_metadata.json", public / "test_metadata.json")
    for record in validation:
        answer = private / "test" / record.name
        answer.mkdir(parents=True)
        shutil.move(record / MASK, answer / MASK)
        (record / INDIVIDUAL).unlink(missing_ok=True)  # not delivered for validation; never kept
        shutil.move(record, public / "test" / record.name)
    write_sample_submission(public / "sample_submission.csv", [r.name for r in validation])


# --- --generated -------------------------------------------------------------------------------

# Typical brightness temperatures (K) of a clear scene in each band, and how much colder a
# contrail of full strength makes each band: thin ice cloud cools the 11-12 micron window
# bands (14, 15) unequally, which is what the "ash" false-colour image shows.
CLEAR_K = {8: 236.0, 9: 246.0, 10: 254.0, 11: 281.0, 12: 259.0, 13: 283.0, 14: 282.0,
           15: 280.0, 16: 268.0}  # fmt: skip
CONTRAIL_K = {8: 0.5, 9: 0.7, 10: 1.0, 11: 1.5, 12: 1.5, 13: 2.5, 14: 3.0, 15: 5.5,
              16: 3.5}  # fmt: skip


def segment_mask(size: int, start: np.ndarray, end: np.ndarray, width: float) -> np.ndarray:
    """Pixels (row, column) within `width` of the segment from `start` to `end`."""
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    points = np.stack([rows, cols], axis=-1)
    direction = end - start
    t = np.clip(((points - start) @ direction) / float(direction @ direction), 0.0, 1.0)
    nearest = start + t[..., None] * direction
    return np.linalg.norm(points - nearest, axis=-1) <= width


def contrails(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Contrail strength per frame (size x size x N_TIMES) and the labelled frame's mask."""
    strength = np.zeros((size, size, N_TIMES))
    truth = np.zeros((size, size), dtype=bool)
    for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):
        centre = rng.uniform(4, size - 4, 2)
        angle = rng.uniform(0, np.pi)
        half = rng.uniform(0.2, 0.45) * size * np.array([np.sin(angle), np.cos(angle)])
        drift = rng.normal(0, 0.6, 2)  # pixels per frame
        born = int(rng.integers(1, LABELLED + 1))
        width = float(rng.uniform(0.6, 1.2))
        for frame in range(born, N_TIMES):
            shift = drift * (frame - LABELLED)
            line = segment_mask(size, centre - half + shift, centre + half + shift, width)
            strength[..., frame] = np.maximum(strength[..., frame], line * rng.uniform(0.8, 1.2))
            if frame == LABELLED:
                truth |= line
    return strength, truth


def scene(rng: np.random.Generator, size: int, strength: np.ndarray) -> dict[int, np.ndarray]:
    """Band name -> brightness temperatures (size x size x N_TIMES, float32) of one record."""
    rows, cols = np.mgrid[0:size, 0:size] / size
    weather = np.zeros((size, size, N_TIMES))
    for _ in range(3):  # smooth warm and cold areas drifting over the frames
        freq, phase, amp = rng.uniform(0.5, 2.5, 2), rng.uniform(0, 2 * np.pi), rng.uniform(2, 6)
        speed = rng.normal(0, 0.15)
        for frame in range(N_TIMES):
            wave = np.sin(2 * np.pi * (freq[0] * rows + freq[1] * cols) + phase + speed * frame)
            weather[..., frame] += amp * wave
    offset = rng.normal(0, 4)
    bands = {}
    for band in BANDS:
        noise = rng.normal(0, 0.3, (size, size, N_TIMES))
        values = CLEAR_K[band] + offset + weather - CONTRAIL_K[band] * strength + noise
        bands[band] = values.astype(np.float32)
    return bands


def labellers(rng: np.random.Generator, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Individual masks (H x W x 1 x R, R of 4 to 6) and their majority vote (H x W x 1)."""
    near = np.zeros_like(truth)
    for axis in (0, 1):
        for step in (-1, 1):
            near |= np.roll(truth, step, axis=axis)
    near &= ~truth
    masks = []
    for _ in range(int(rng.integers(4, 7))):
        drawn = (truth & (rng.random(truth.shape) < 0.85)) | (
            near & (rng.random(truth.shape) < 0.2)
        )
        masks.append(drawn)
    individual = np.stack(masks, axis=-1)[:, :, None, :].astype(np.int32)
    majority = individual.sum(axis=-1) * 2 > individual.shape[-1]
    return individual, majority.astype(np.int32)


def save(path: Path, array: np.ndarray) -> None:
    """np.save into a new folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


def metadata(rng: np.random.Generator, ids: list[str]) -> list[dict[str, object]]:
    """One metadata entry per record: a synthetic scene position and timestamp."""
    entries = []
    for record_id in ids:
        row_min, col_min = (float(v) for v in rng.uniform(-4e6, 4e6, 2).round(1))
        entries.append(
            {
                "record_id": record_id,
                "projection_wkt": "synthetic",
                "row_min": row_min,
                "row_size": 2000.0,
                "col_min": col_min,
                "col_size": 2000.0,
                "timestamp": float(1_555_000_000 + int(rng.integers(0, 10_000_000)) * 600),
            }
        )
    return entries


def generate(out: Path, seed: int = GENERATED_SEED, size: int = GENERATED_SIZE) -> None:
    """Write the synthetic data set into DIR/public and DIR/private."""
    rng = np.random.default_rng(seed)
    numbers = rng.choice(9 * 10**6, GENERATED_TRAIN + GENERATED_TEST, replace=False)
    ids = [str(10**18 + int(n) * 10**11 + int(rng.integers(0, 10**11))) for n in numbers]
    train_ids, test_ids = sorted(ids[:GENERATED_TRAIN]), sorted(ids[GENERATED_TRAIN:])
    public, private = out / "public", out / "private"
    for record_id in train_ids + test_ids:
        strength, truth = contrails(rng, size)
        bands = scene(rng, size, strength)
        individual, majority = labellers(rng, truth)
        split = "train" if record_id in train_ids else "test"
        for band, values in bands.items():
            save(public / split / record_id / f"band_{band:02d}.npy", values)
        if split == "train":
            save(public / split / record_id / MASK, majority)
            save(public / split / record_id / INDIVIDUAL, individual)
        else:
            save(private / "test" / record_id / MASK, majority)
    for name, split_ids in (("train_metadata.json", train_ids), ("test_metadata.json", test_ids)):
        (public / name).write_text(json.dumps(metadata(rng, split_ids)) + "\n")
    write_sample_submission(public / "sample_submission.csv", test_ids)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=split_raw, generated=generate)
