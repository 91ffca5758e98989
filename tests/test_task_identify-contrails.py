"""The identify-contrails task: grader, data preparation and a baseline run.

The grader (scripts/eval.py, run as the harness runs it) against global and per-record Dice
computed by hand on 3 x 2 pixel masks, with the column-major run-length convention spelt out,
and invalid submissions with their reasons; the starter's encode.py against the same
convention; prepare.py on a hand-made miniature of Kaggle's folders (and of its zip) through
mlab_hpc.data.prepare with from_dir (validation records become test/, their masks only in
private/, manifest); the --generated data byte-identical across runs and PYTHONHASHSEEDs, in
Kaggle's layout and dtypes, with a signal a simple rule finds; and a whole baseline run of the
starter on the generated data in smoke mode.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from mlab_hpc.data import MANIFEST, prepare, verify
from mlab_hpc.taskspec import load_task
from tests.task_helpers import COMPLETED, baseline_run, checked, generated_twice, run_grader

TASK = "identify-contrails"
TASK_DIR = Path(__file__).resolve().parents[1] / "tasks" / TASK
BANDS = [f"band_{band:02d}.npy" for band in range(8, 17)]
MASK = "human_pixel_masks.npy"


def load_module(name: str, path: Path) -> ModuleType:
    """A task script imported from its file."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def encode_module() -> ModuleType:
    """The starter's env/encode.py."""
    return load_module("contrails_encode", TASK_DIR / "env" / "encode.py")


def grade_in_process(workspace: Path, answers: Path) -> dict[str, Any]:
    """The grader's grade() called directly (quicker than a process per case)."""
    grader = load_module("contrails_eval", TASK_DIR / "scripts" / "eval.py")
    return checked(grader.grade(workspace, answers))


# --- the grader --------------------------------------------------------------------------------

# Record A's true mask, 3 rows x 2 columns. Numbered down the columns first, its contrail
# pixels (row 1, col 1), (row 2, col 1) and (row 3, col 2) are pixels 1, 2 and 6: "1 2 6 1".
# Record B has no contrail pixel.
TRUTH_A = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.int32)
TRUTH_B = np.zeros((3, 2), dtype=np.int32)
ID_A, ID_B = "1000834164244036115", "1002653297254493116"


def case(tmp_path: Path, submission: str | None) -> tuple[Path, Path]:
    """An answer key for records A and B and a workspace holding `submission` (if given)."""
    answers = tmp_path / "answers"
    for record_id, truth in ((ID_A, TRUTH_A), (ID_B, TRUTH_B)):
        (answers / "test" / record_id).mkdir(parents=True)
        np.save(answers / "test" / record_id / MASK, truth[:, :, None])
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    if submission is not None:
        (workspace / "submission.csv").write_text(submission)
    return workspace, answers


E = 1e-6  # the per-record score's smoothing


@pytest.mark.parametrize(
    ("rows", "dice", "mean_record_dice"),
    [
        # both right: A exactly, B empty
        ([f"{ID_A},1 2 6 1", f"{ID_B},-"], 1.0, 1.0),
        # A: pixels 2, 3 (1 right of 2; truth has 3); B: pixel 4 (wrong). |P|=3, |T|=3, 1 hit:
        # global 2/6; per record A (2+E)/(5+E), B E/(1+E)
        ([f"{ID_A},2 2", f"{ID_B},4 1"], 1 / 3, ((2 + E) / (5 + E) + E / (1 + E)) / 2),
        # A encoded row by row (pixels 1, 3, 6 read down the columns): 2 hits of 3 and 3
        ([f"{ID_A},1 1 3 1 6 1", f"{ID_B},-"], 2 / 3, ((4 + E) / (6 + E) + 1) / 2),
        # nothing predicted: global 0, per record A E/(3+E) and B 1
        ([f"{ID_A},-", f"{ID_B},-"], 0.0, (E / (3 + E) + 1) / 2),
    ],
    ids=["all-right", "one-hit", "row-major-misread", "all-empty"],
)
def test_dice_by_hand(
    tmp_path: Path, rows: list[str], dice: float, mean_record_dice: float
) -> None:
    workspace, answers = case(tmp_path, "record_id,encoded_pixels\n" + "\n".join(rows) + "\n")

    result = run_grader(TASK, workspace, answers)

    assert result["valid"], result["reason"]
    assert result["metrics"]["dice"] == pytest.approx(dice, abs=1e-12)
    assert result["metrics"]["mean_record_dice"] == pytest.approx(mean_record_dice, abs=1e-12)


def test_rows_in_any_order_extra_columns_and_spaces(tmp_path: Path) -> None:
    submission = f"note,encoded_pixels,record_id\nx, -,{ID_B}\ny,1 2   6 1 ,{ID_A}\n"
    workspace, answers = case(tmp_path, submission)

    result = run_grader(TASK, workspace, answers)

    assert result["valid"], result["reason"]
    assert result["metrics"] == {"dice": 1.0, "mean_record_dice": 1.0}


def test_no_contrail_anywhere_and_none_predicted_is_perfect(tmp_path: Path) -> None:
    workspace, answers = case(tmp_path, f"record_id,encoded_pixels\n{ID_A},-\n{ID_B},-\n")
    np.save(answers / "test" / ID_A / MASK, TRUTH_B[:, :, None])

    result = run_grader(TASK, workspace, answers)

    assert result["metrics"] == {"dice": 1.0, "mean_record_dice": 1.0}


HEADER = "record_id,encoded_pixels\n"


@pytest.mark.parametrize(
    ("submission", "reason"),
    [
        (None, "submission.csv is missing from the workspace"),
        ("", "submission.csv cannot be read as CSV"),
        (f"record_id,pixels\n{ID_A},-\n{ID_B},-\n", "submission.csv has no encoded_pixels column"),
        (
            HEADER + f"{ID_A},-\n",
            f"has 1 row for the 2 test records: 1 test record missing (record_id {ID_B})",
        ),
        (HEADER + f"{ID_A},-\n{ID_A},-\n{ID_B},-\n", f"1 record_id value repeated: {ID_A}"),
        (HEADER + f"{ID_A},-\n{ID_B},-\n42,-\n", "1 record_id value not in test/ (42)"),
        (HEADER + f"{ID_A},\n{ID_B},-\n", f"encoded_pixels of record_id {ID_A} is empty"),
        (HEADER + f"{ID_A},-\n{ID_B},NaN\n", "holds 'NaN', not a whole number"),
        (HEADER + f"{ID_A},1.5 2\n{ID_B},-\n", "holds '1.5', not a whole number"),
        (HEADER + f"{ID_A},1 2 6\n{ID_B},-\n", "has 3 numbers, not start-length pairs"),
        (HEADER + f"{ID_A},0 2\n{ID_B},-\n", "starts and lengths must be >= 1"),
        (HEADER + f"{ID_A},1 0\n{ID_B},-\n", "starts and lengths must be >= 1"),
        (HEADER + f"{ID_A},6 2\n{ID_B},-\n", "past pixel 6 (a 3 x 2 image)"),
        (HEADER + f"{ID_A},6 1 1 2\n{ID_B},-\n", "'1 2' unsorted or overlapping"),
        (HEADER + f"{ID_A},1 3 2 1\n{ID_B},-\n", "'2 1' unsorted or overlapping"),
    ],
    ids=[
        "missing",
        "empty-file",
        "no-column",
        "missing-row",
        "repeated",
        "extra-row",
        "empty-cell",
        "nan",
        "fraction",
        "odd-count",
        "start-0",
        "length-0",
        "past-the-end",
        "unsorted",
        "overlapping",
    ],
)
def test_invalid_submissions(tmp_path: Path, submission: str | None, reason: str) -> None:
    workspace, answers = case(tmp_path, submission)

    result = grade_in_process(workspace, answers)

    assert not result["valid"]
    assert reason in result["reason"]


def test_a_missing_answer_key_is_the_graders_failure(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "submission.csv").write_text(HEADER + f"{ID_A},-\n")
    (tmp_path / "answers").mkdir()
    script = TASK_DIR / "scripts" / "eval.py"

    done = subprocess.run(
        [sys.executable, str(script), "--workspace", "ws", "--answers", "answers", "--out", "o"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )

    assert done.returncode != 0
    assert "no answer key" in done.stderr


def test_the_starters_encoder_follows_the_convention() -> None:
    encode = encode_module()

    assert encode.rle_encode(TRUTH_A) == "1 2 6 1"
    assert encode.rle_encode(TRUTH_B) == "-"
    assert encode.rle_encode(np.ones((3, 2))) == "1 6"
    assert (encode.rle_decode("1 1 3 1 6 1", (3, 2)) == [[1, 0], [0, 0], [1, 1]]).all()
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random((7, 5)) < 0.4
        assert (encode.rle_decode(encode.rle_encode(mask), (7, 5)) == mask).all()


# --- prepare.py on Kaggle's layout -------------------------------------------------------------

TRAIN_IDS = ["1000216489776414077", "1000603527582775543", "1001263458453327749"]
VALID_IDS = ["1000834164244036115", "1002653297254493116"]
KAGGLE_TEST_ID = "1000834164244036999"


def kaggle_files() -> dict[str, bytes]:
    """A miniature of the competition's files (4 x 4 images), path -> bytes."""
    rng = np.random.default_rng(7)

    def npy(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()

    def bands(record: str) -> dict[str, bytes]:
        return {
            f"{record}/{name}": npy(rng.normal(270, 5, (4, 4, 8)).astype(np.float32))
            for name in BANDS
        }

    files: dict[str, bytes] = {}
    for split, ids in (("train", TRAIN_IDS), ("validation", VALID_IDS)):
        for record_id in ids:
            files.update(bands(f"{split}/{record_id}"))
            mask = (rng.random((4, 4, 1)) < 0.3).astype(np.int32)
            files[f"{split}/{record_id}/{MASK}"] = npy(mask)
            if split == "train":
                individual = np.repeat(mask[..., None], 3, axis=-1)
                files[f"train/{record_id}/human_individual_masks.npy"] = npy(individual)
    files.update(bands(f"test/{KAGGLE_TEST_ID}"))
    for split, ids in (("train", TRAIN_IDS), ("validation", VALID_IDS)):
        entries = [{"record_id": i, "timestamp": 1.5e9 + n} for n, i in enumerate(ids)]
        files[f"{split}_metadata.json"] = json.dumps(entries).encode()
    files["sample_submission.csv"] = f"record_id,encoded_pixels\n{KAGGLE_TEST_ID},-\n".encode()
    return files


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    """Write `files` (relative path -> bytes) under `root`."""
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def prepare_from(raw: Path, data_root: Path) -> Path:
    """Prepare the task from `raw` as the harness does; the manifest must verify."""
    prepared = prepare(load_task(TASK_DIR), "real", data_root, from_dir=raw)
    assert verify(prepared.root) == []
    manifest = json.loads((prepared.root / MANIFEST).read_text())
    on_disk = {
        path.relative_to(prepared.root).as_posix()
        for path in prepared.root.rglob("*")
        if path.is_file() and path.name != MANIFEST
    }
    assert set(manifest["files"]) == on_disk
    assert not any(name.startswith("raw/") for name in on_disk), "the raw files are not kept"
    return prepared.root


def assert_published_split(root: Path, files: dict[str, bytes]) -> None:
    """Validation records -> public test/ without masks, masks -> private; train unchanged."""
    public, private = root / "public", root / "private"
    expected_public = {
        **{rel: data for rel, data in files.items() if rel.startswith("train/")},
        **{
            "test/" + rel.removeprefix("validation/"): data
            for rel, data in files.items()
            if rel.startswith("validation/") and not rel.endswith(MASK)
        },
        "train_metadata.json": files["train_metadata.json"],
        "test_metadata.json": files["validation_metadata.json"],
    }
    for rel, data in expected_public.items():
        assert (public / rel).read_bytes() == data, rel
    on_disk = {p.relative_to(public).as_posix() for p in public.rglob("*") if p.is_file()}
    assert on_disk == {*expected_public, "sample_submission.csv"}
    assert (public / "sample_submission.csv").read_text() == (
        "record_id,encoded_pixels\n" + "".join(f"{i},-\n" for i in VALID_IDS)
    )
    answer_files = {p.relative_to(private).as_posix() for p in private.rglob("*") if p.is_file()}
    assert answer_files == {f"test/{i}/{MASK}" for i in VALID_IDS}
    for record_id in VALID_IDS:
        truth = (private / "test" / record_id / MASK).read_bytes()
        assert truth == files[f"validation/{record_id}/{MASK}"]


def test_prepare_makes_validation_the_test_set(tmp_path: Path, data_root: Path) -> None:
    files = kaggle_files()
    write_tree(tmp_path / "raw", files)

    root = prepare_from(tmp_path / "raw", data_root)

    assert_published_split(root, files)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "submission.csv").write_bytes(
        (root / "public" / "sample_submission.csv").read_bytes()
    )
    result = run_grader(TASK, workspace, root / "private")
    assert result["valid"], result["reason"]
    assert result["metrics"]["dice"] == 0.0


def test_prepare_reads_the_competition_zip(tmp_path: Path, data_root: Path) -> None:
    files = kaggle_files()
    (tmp_path / "raw").mkdir()
    zip_path = tmp_path / "raw" / "google-research-identify-contrails-reduce-global-warming.zip"
    with zipfile.ZipFile(zip_path, "w") as zipped:
        for rel, data in files.items():
            zipped.writestr(rel, data)

    root = prepare_from(tmp_path / "raw", data_root)

    assert_published_split(root, files)


def run_prepare(raw: Path, out: Path) -> subprocess.CompletedProcess[str]:
    script = TASK_DIR / "scripts" / "prepare.py"
    return subprocess.run(
        [sys.executable, str(script), "--raw", str(raw), "--out", str(out)],
        capture_output=True,
        text=True,
    )


def test_prepare_rejects_a_record_without_its_mask(tmp_path: Path) -> None:
    files = kaggle_files()
    del files[f"validation/{VALID_IDS[1]}/{MASK}"]
    write_tree(tmp_path / "raw", files)

    done = run_prepare(tmp_path / "raw", tmp_path / "out")

    assert done.returncode != 0
    assert f"validation/{VALID_IDS[1]} has no {MASK}" in done.stderr


def test_prepare_without_the_files_says_so(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()

    done = run_prepare(tmp_path / "raw", tmp_path / "out")

    assert done.returncode != 0
    assert "no train/ and validation/ folders" in done.stderr


# --- generated data ----------------------------------------------------------------------------


def test_generated_data_has_kaggles_layout_and_a_findable_signal(tmp_path: Path) -> None:
    out = generated_twice(TASK, tmp_path)
    public = out / "public"
    train_ids = sorted(p.name for p in (public / "train").iterdir())
    test_ids = sorted(p.name for p in (public / "test").iterdir())
    assert (len(train_ids), len(test_ids)) == (24, 8)
    assert all(len(i) == 19 and i.isdigit() for i in train_ids + test_ids)
    for record_id in train_ids:
        record = public / "train" / record_id
        assert sorted(p.name for p in record.iterdir()) == sorted(
            [*BANDS, MASK, "human_individual_masks.npy"]
        )
        band = np.load(record / "band_14.npy")
        assert (band.shape, band.dtype) == ((32, 32, 8), np.float32)
        mask = np.load(record / MASK)
        assert (mask.shape, mask.dtype) == ((32, 32, 1), np.int32)
        individual = np.load(record / "human_individual_masks.npy")
        assert individual.shape[:3] == (32, 32, 1) and 4 <= individual.shape[3] <= 6
        majority = individual.sum(axis=-1) * 2 > individual.shape[-1]
        assert (majority == mask).all() and set(np.unique(mask)) <= {0, 1}
    for record_id in test_ids:
        assert sorted(p.name for p in (public / "test" / record_id).iterdir()) == BANDS
    answers = sorted(
        p.relative_to(out / "private").as_posix() for p in (out / "private").rglob("*.npy")
    )
    assert answers == [f"test/{i}/{MASK}" for i in test_ids]
    metadata = json.loads((public / "test_metadata.json").read_text())
    assert [entry["record_id"] for entry in metadata] == test_ids

    # The contrails are colder in band 15 than in band 14: that difference alone finds them.
    encode = encode_module()
    rows = []
    for record_id in test_ids:
        record = public / "test" / record_id
        difference = (
            np.load(record / "band_15.npy")[..., 4] - np.load(record / "band_14.npy")[..., 4]
        )
        rows.append(f"{record_id},{encode.rle_encode(difference < -3.2)}")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "submission.csv").write_text(HEADER + "\n".join(rows) + "\n")
    assert run_grader(TASK, workspace, out / "private")["metrics"]["dice"] > 0.8
    (workspace / "submission.csv").write_bytes((public / "sample_submission.csv").read_bytes())
    assert run_grader(TASK, workspace, out / "private")["metrics"]["dice"] == 0.0


# --- a whole run -------------------------------------------------------------------------------


def test_baseline_run_on_generated_data(
    results: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the 2 shared cores of the test machine
    run = baseline_run(TASK, results, "--smoke")

    assert (run["status"], run["final_valid"], run["data_mode"]) == COMPLETED
    # A few training batches of the tiny network: usually no pixel above the threshold yet
    # (Dice 0); what matters here is a valid submission from an unchanged starter.
    assert 0.0 <= run["final_score"] <= 1.0
