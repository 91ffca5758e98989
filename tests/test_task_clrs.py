"""The clrs task (Floyd-Warshall of CLRS-30): grader, data preparation, starter.

The grader on hand-made models and answer keys (scores worked out by hand, invalid models with
their one-line reasons); prepare on a miniature of DeepMind's CLRS30_v1.0.0.tar.gz, whose
TFRecord files of tf.train.Example are written here byte by byte (splits, answer key apart,
manifest); Floyd-Warshall of --generated checked on a graph worked out by hand; --generated
byte-identical across runs; a whole baseline run of the starter on generated data in smoke
mode.
"""

from __future__ import annotations

import importlib.util
import io
import json
import struct
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from mlab_hpc.data import MANIFEST, prepare, verify
from mlab_hpc.taskspec import load_task
from tests.task_helpers import (
    COMPLETED,
    baseline_run,
    generated_twice,
    run_grader,
    tree_bytes,
)

TASK = "clrs"
TASK_DIR = Path(__file__).resolve().parents[1] / "tasks" / TASK


def load_prepare() -> ModuleType:
    """The task's prepare.py as a module (for its Floyd-Warshall and graph sampler)."""
    spec = importlib.util.spec_from_file_location("clrs_prepare", TASK_DIR / "scripts/prepare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the grader ------------------------------------------------------------------------------


# Two test graphs of 3 nodes. The model below predicts the pointers it finds in its parameters
# (the same matrix for every graph): pi[i, j] = i.
TRUTH = np.array(
    [
        [[0, 0, 1], [1, 1, 1], [1, 2, 2]],  # 7 of 9 right: (0, 2) and (2, 0) are wrong
        [[0, 0, 0], [1, 1, 1], [2, 2, 2]],  # all 9 right
    ]
)
GUESS = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2]])
TABLE_MODEL = """
    import numpy as np

    def predict(params, inputs):
        batch = inputs["A"].shape[0]
        return np.repeat(params["guess"][None], batch, axis=0)
"""


def case(tmp_path: Path, model: str | None, params: dict[str, Any] | None) -> tuple[Path, Path]:
    """An answer key of the two graphs and a workspace with model.py and params (if given)."""
    answers = tmp_path / "answers"
    answers.mkdir()
    graphs, nodes = TRUTH.shape[:2]
    np.savez(
        answers / "test.npz",
        pos=np.tile(np.arange(nodes) / nodes, (graphs, 1)).astype(np.float32),
        A=np.ones((graphs, nodes, nodes), np.float32),
        adj=np.ones((graphs, nodes, nodes), np.float32),
        pi=TRUTH.astype(np.int32),
    )
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    if model is not None:
        (workspace / "model.py").write_text(textwrap.dedent(model).lstrip())
    if params is not None:
        (workspace / "checkpoints").mkdir()
        np.savez(workspace / "checkpoints" / "params.npz", **params)
    return workspace, answers


def test_score_by_hand(tmp_path: Path) -> None:
    workspace, answers = case(tmp_path, TABLE_MODEL, {"guess": GUESS})

    result = run_grader(TASK, workspace, answers)

    assert result["valid"], result["reason"]
    assert result["metrics"]["score"] == pytest.approx((7 + 9) / 18)
    assert result["metrics"]["graphs_exact"] == pytest.approx(1 / 2)
    assert result["metrics"]["answers_hidden"] == 1.0  # bwrap works here: the key was masked
    assert result["agent_reported"] is None


def test_a_model_cannot_read_the_answer_key(tmp_path: Path) -> None:
    """A model that knows where the answer key is and copies its pointers: the key is masked
    from the model's process, so the attempt fails and the submission is invalid."""
    answers_file = tmp_path / "answers" / "test.npz"
    cheat = f"""
        import numpy as np

        def predict(params, inputs):
            with np.load({str(answers_file)!r}) as key:
                return key["pi"][:1]  # graph 0's true pointers, were the key readable
        """
    workspace, answers = case(tmp_path, cheat, {"guess": GUESS})

    result = run_grader(TASK, workspace, answers)

    assert not result["valid"]
    assert "the model failed" in result["reason"] and "test.npz" in result["reason"]


def test_all_wrong_and_float_pointers(tmp_path: Path) -> None:
    # Whole numbers as floats are accepted. Guessing (i + 1) mod 3 is right only at (0, 2) of
    # the first graph: 1 of 18 entries.
    guess = ((GUESS + 1) % 3).astype(np.float64)
    workspace, answers = case(tmp_path, TABLE_MODEL, {"guess": guess})

    result = run_grader(TASK, workspace, answers)

    assert result["valid"], result["reason"]
    assert result["metrics"]["score"] == pytest.approx(1 / 18)
    assert result["metrics"]["graphs_exact"] == 0.0


@pytest.mark.parametrize(
    ("model", "params", "reason"),
    [
        (None, {"guess": GUESS}, "model.py is missing from the workspace"),
        (TABLE_MODEL, None, "checkpoints/params.npz is missing from the workspace"),
        ("import numpy as np\ndef predict(params, inputs)\n", {"guess": GUESS}, "SyntaxError"),
        (
            "def predict(params, inputs):\n    raise ValueError('no weights for 3 nodes')\n",
            {"guess": GUESS},
            "the model failed (exit 1): ValueError: no weights for 3 nodes",
        ),
        (
            TABLE_MODEL,
            {"guess": GUESS[:2]},
            "model.predict returned shape (1, 2, 3) for test graph 0, not (1, 3, 3)",
        ),
        (
            TABLE_MODEL,
            {"guess": GUESS + 1},
            "model.predict returned a pointer outside 0..2 for test graph 0",
        ),
        (
            TABLE_MODEL,
            {"guess": np.where(GUESS == 1, np.nan, GUESS)},
            "values that are not whole node numbers for test graph 0",
        ),
        (TABLE_MODEL, {"guess": GUESS + 0.5}, "not whole node numbers"),
        (TABLE_MODEL, {"other": GUESS}, "KeyError: 'guess'"),
    ],
    ids=[
        "no-model",
        "no-params",
        "syntax",
        "raises",
        "shape",
        "out-of-range",
        "nan",
        "fraction",
        "wrong-params",
    ],
)
def test_invalid_models(
    tmp_path: Path, model: str | None, params: dict[str, Any] | None, reason: str
) -> None:
    workspace, answers = case(tmp_path, model, params)

    result = run_grader(TASK, workspace, answers)

    assert not result["valid"]
    assert reason in result["reason"]


def test_a_model_past_the_time_budget_is_invalid(tmp_path: Path) -> None:
    slow = "import time\n\ndef predict(params, inputs):\n    time.sleep(30)\n"
    workspace, answers = case(tmp_path, slow, {"guess": GUESS})

    result = run_grader(TASK, workspace, answers, env={"CLRS_GRADER_BUDGET_S": "1"})

    assert not result["valid"]
    assert result["reason"] == "the model did not predict the test graphs within 1 s"


def test_a_missing_answer_key_fails_the_grader(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    done = subprocess.run(
        [sys.executable, str(TASK_DIR / "scripts" / "eval.py"), "--workspace", str(workspace)]
        + ["--answers", str(tmp_path), "--out", str(tmp_path / "out.json")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "answer key" in done.stderr


# --- prepare on a miniature CLRS30_v1.0.0.tar.gz ----------------------------------------------


def varint(value: int) -> bytes:
    """A protocol-buffer varint (negative numbers as 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def length_delimited(number: int, payload: bytes) -> bytes:
    """A field of wire type 2."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def feature(values: np.ndarray) -> bytes:
    """A tf.train.Feature as TFDS writes it: floats as a packed float_list, ints as int64_list."""
    flat = np.asarray(values).ravel()
    if flat.dtype.kind == "f":
        value_list = length_delimited(1, flat.astype("<f4").tobytes())
        return length_delimited(2, value_list)
    packed = b"".join(varint(int(v)) for v in flat)
    return length_delimited(3, length_delimited(1, packed))


def example(features: dict[str, np.ndarray]) -> bytes:
    """A serialised tf.train.Example: Features is a map of name -> Feature."""
    entries = b"".join(
        length_delimited(1, length_delimited(1, name.encode()) + length_delimited(2, feature(v)))
        for name, v in features.items()
    )
    return length_delimited(1, entries)


def tfrecord(records: list[bytes]) -> bytes:
    """A TFRecord file: length, CRC of the length, data, CRC of the data (CRCs not checked)."""
    return b"".join(struct.pack("<QI", len(r), 0) + r + struct.pack("<I", 0) for r in records)


def clrs_features(graph: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One graph under CLRS-30's feature names and dtypes (float64 data, int64 lengths)."""
    return {
        "input_pos": graph["pos"].astype(np.float64),
        "input_A": graph["A"].astype(np.float64),
        "input_adj": graph["adj"].astype(np.float64),
        "output_Pi": graph["pi"].astype(np.float64),  # CLRS keeps pointers as floats
        "hint_Pi_h": graph["hint_pi"].astype(np.float64),
        "hint_D": graph["hint_d"].astype(np.float64),
        "hint_msk": graph["hint_msk"].astype(np.float64),
        "hint_k": graph["hint_k"].astype(np.float64),
        "lengths": np.asarray(graph["lengths"], dtype=np.int64),
    }


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_prepare_reads_the_official_archive(tmp_path: Path, data_root: Path) -> None:
    fw = load_prepare()
    rng = np.random.default_rng(7)
    sizes = {"train": (3, 4), "val": (2, 4), "test": (2, 5)}  # graphs, nodes
    graphs = {
        split: [fw.floyd_warshall(fw.random_graph(rng, nodes)) for _ in range(count)]
        for split, (count, nodes) in sizes.items()
    }
    raw = tmp_path / "raw"
    raw.mkdir()
    root = "CLRS30_v1.0.0/clrs_dataset"
    with tarfile.open(raw / "CLRS30_v1.0.0.tar.gz", "w:gz") as tar:
        for split, examples in graphs.items():
            folder = f"{root}/floyd_warshall_{split}/1.0.0"
            records = [example(clrs_features(graph)) for graph in examples]
            add_file(
                tar, f"{folder}/clrs_dataset-{split}.tfrecord-00000-of-00001", tfrecord(records)
            )
            add_file(tar, f"{folder}/dataset_info.json", b"{}")
            add_file(tar, f"{folder}/features.json", b"{}")
        other = {"input_pos": np.zeros(4), "lengths": np.asarray(1)}  # another algorithm
        add_file(tar, f"{root}/bfs_train/1.0.0/clrs_dataset-train.tfrecord-00000-of-00001",
                 tfrecord([example(other)]))  # fmt: skip

    prepared = prepare(load_task(TASK_DIR), "real", data_root, from_dir=raw)

    assert verify(prepared.root) == []
    manifest = json.loads((prepared.root / MANIFEST).read_text())
    assert sorted(manifest["files"]) == [
        "private/test.npz",
        "public/train.npz",
        "public/val.npz",
    ]
    for split in ("train", "val"):
        with np.load(prepared.root / "public" / f"{split}.npz") as data:
            assert sorted(data.files) == sorted([*fw.INPUTS, "pi", *fw.HINTS])
            for key in data.files:
                expected = np.stack([graph[key] for graph in graphs[split]])
                np.testing.assert_allclose(data[key], expected, rtol=1e-6, atol=1e-7)
            assert data["pi"].dtype == np.int32 and data["A"].dtype == np.float32
            assert data["hint_pi"].shape == (sizes[split][0], 4, 4, 4)
    with np.load(prepared.root / "private" / "test.npz") as test:
        assert sorted(test.files) == ["A", "adj", "pi", "pos"]  # no hints for the test graphs
        assert test["pi"].shape == (2, 5, 5)
        np.testing.assert_array_equal(test["pi"], np.stack([g["pi"] for g in graphs["test"]]))


def test_prepare_without_the_archive_says_so(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    done = subprocess.run(
        [sys.executable, str(TASK_DIR / "scripts" / "prepare.py"), "--raw", str(tmp_path / "raw")]
        + ["--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "no CLRS30 archive (*.tar.gz)" in done.stderr


# --- --generated -----------------------------------------------------------------------------


def test_floyd_warshall_by_hand() -> None:
    # Path 0 - 1 - 2 with weights 1 and 1, a long direct edge 0 - 2 of weight 3, node 3 alone.
    weights = np.zeros((4, 4))
    weights[0, 1] = weights[1, 0] = weights[1, 2] = weights[2, 1] = 1.0
    weights[0, 2] = weights[2, 0] = 3.0

    result = load_prepare().floyd_warshall(weights)

    # From 0, 2 is reached through 1; from 2, 0 through 1; node 3 is unreachable (pi = i).
    expected = [[0, 0, 1, 0], [1, 1, 1, 1], [1, 2, 2, 2], [3, 3, 3, 3]]
    np.testing.assert_array_equal(result["pi"], expected)
    assert result["hint_d"].shape == (4, 4, 4) and result["hint_d"][0, 0, 2] == 3.0
    np.testing.assert_array_equal(result["hint_pi"][0], np.repeat(np.arange(4)[:, None], 4, 1))
    assert result["adj"][3, 3] == 1 and result["adj"][0, 3] == 0


def test_generated_is_byte_identical_and_has_the_schema(tmp_path: Path) -> None:
    first = generated_twice(TASK, tmp_path)
    assert sorted(rel.as_posix() for rel in tree_bytes(first) if rel.suffix == ".npz") == [
        "private/test.npz",
        "public/train.npz",
        "public/val.npz",
    ]

    with np.load(tmp_path / "first" / "public" / "train.npz") as train:
        assert train["pos"].shape == (200, 8) and train["hint_pi"].shape == (200, 8, 8, 8)
        assert ((train["pi"] >= 0) & (train["pi"] < 8)).all()
        np.testing.assert_array_equal(train["adj"], (train["A"] != 0) | np.eye(8, dtype=bool))
        np.testing.assert_array_equal(train["A"], np.swapaxes(train["A"], 1, 2))  # undirected
    with np.load(tmp_path / "first" / "private" / "test.npz") as test:
        assert test["pos"].shape == (16, 16) and test["pi"].dtype == np.int32
        trivial = np.mean(test["pi"] == np.arange(16)[None, :, None])  # pi[i, j] = i
        assert 0.05 < trivial < 0.6


# --- a whole baseline run --------------------------------------------------------------------


def test_baseline_run_on_generated_data(results: Path, data_root: Path) -> None:
    run = baseline_run(TASK, results, "--smoke")

    assert (run["status"], run["final_valid"], run["data_mode"]) == COMPLETED
    assert 0.0 < run["final_score"] <= 1.0  # 10 training steps: a weak model, but a loadable one
    print(run)
