"""The vision predictor grader (mlab_vision_eval) and the two MLRB budget tasks.

Predictors run for real: output/predict.py is imported in a nested bwrap sandbox that hides
the answer folder, the test images travel over a pipe, and the accuracy is computed by the
grader process after the predictor's process has ended.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlab_hpc.grader_lib import mlab_vision_eval as vision
from mlab_hpc.grader_lib.mlab_vision_eval import VisionRules
from mlab_hpc.taskspec import get_task
from tests.task_helpers import COMPLETED, TASKS, baseline_run, generated_twice, run_grader

# Ten test labels: 4 of class 0, 3 of class 1, 2 of class 2, 1 of class 3. A predictor that
# always answers 0 is right on 4 of 10; one that always answers 1, on 3.
LABELS = [0, 1, 0, 2, 1, 0, 3, 2, 1, 0]


def rules(**changes: Any) -> VisionRules:
    fields: dict[str, Any] = {
        "primary": "score",
        "score": "accuracy_squared_per_minute",
        "max_bytes": 100_000,
        "batch_size": 4,
        "budget_s": 120.0,
    }
    return VisionRules(**{**fields, **changes})


def answer_key(tmp_path: Path) -> Path:
    """answers/ with ten 4x4 RGB test images (image i filled with the value i) and LABELS."""
    answers = tmp_path / "answers"
    answers.mkdir()
    images = np.stack([np.full((4, 4, 3), i, dtype=np.uint8) for i in range(len(LABELS))])
    np.save(answers / "test_images.npy", images)
    np.save(answers / "test_labels.npy", np.array(LABELS, dtype=np.int64))
    return answers


def workspace_with(tmp_path: Path, predict_py: str, extra: dict[str, bytes] | None = None) -> Path:
    workspace = tmp_path / "workspace"
    (workspace / "output").mkdir(parents=True)
    (workspace / "output" / "predict.py").write_text(textwrap.dedent(predict_py))
    for name, content in (extra or {}).items():
        (workspace / "output" / name).write_bytes(content)
    return workspace


def grade(workspace: Path, answers: Path, tmp_path: Path, **changes: Any) -> dict[str, Any]:
    """grade_predictor's document under rules(**changes), after checking that the scratch
    folder is gone and that an invalid result has a one-line reason and no metrics."""
    out = tmp_path / "grader-out"
    out.mkdir(exist_ok=True)
    result = vision.grade_predictor(workspace, answers, out, rules(**changes))
    assert sorted(p.name for p in out.iterdir()) == []  # the scratch folder is removed
    if not result["valid"]:
        assert result["metrics"] == {} and "\n" not in result["reason"]
    return result


CONSTANT = """
    def load(model_dir):
        return {"answer": 1}

    def predict(state, images):
        return [state["answer"]] * len(images)
"""


def test_a_predictor_that_always_answers_one_class_scores_its_share(tmp_path: Path) -> None:
    answers = answer_key(tmp_path)
    result = grade(workspace_with(tmp_path, CONSTANT), answers, tmp_path)

    assert result["valid"], result["reason"]
    metrics = result["metrics"]
    assert (metrics["accuracy"], metrics["correct"], metrics["images"]) == (0.3, 3.0, 10.0)
    assert metrics["answers_hidden"] == 1.0 and metrics["on_gpu"] == 0.0
    assert metrics["score"] == pytest.approx(0.09 / (max(metrics["inference_s"], 0.1) / 60))
    assert "parameters" not in metrics  # a dict holds no torch module


def test_the_labels_follow_the_images_through_the_batches(tmp_path: Path) -> None:
    # image i is filled with the value i: a predictor that looks up LABELS by that value is
    # right on all ten, across batches of 4, 4 and 2, in order
    lookup = f"""
        def load(model_dir):
            return {LABELS!r}

        def predict(state, images):
            return [state[int(image[0, 0, 0])] for image in images]
    """
    result = grade(workspace_with(tmp_path, lookup), answer_key(tmp_path), tmp_path)

    assert result["valid"] and result["metrics"]["accuracy"] == 1.0


def test_a_predictor_cannot_read_the_labels(tmp_path: Path) -> None:
    answers = answer_key(tmp_path)
    # it knows where the key lies and returns the labels when it can read them, else class 3
    thief = f"""
        import numpy as np

        def load(model_dir):
            try:
                return list(np.load({str(answers / "test_labels.npy")!r}))
            except Exception:
                return None

        def predict(state, images):
            return state if state is not None else [3] * len(images)
    """
    result = grade(workspace_with(tmp_path, thief), answers, tmp_path)

    assert result["valid"], result["reason"]
    assert result["metrics"]["answers_hidden"] == 1.0
    assert result["metrics"]["accuracy"] == 0.1  # class 3: it saw no label


def test_an_oversize_model_is_refused_by_the_byte_cap(tmp_path: Path) -> None:
    weights = {"weights.bin": b"\0" * 100_001}
    result = grade(workspace_with(tmp_path, CONSTANT, weights), answer_key(tmp_path), tmp_path)

    assert not result["valid"]
    assert "over the task's cap of 100000 bytes" in result["reason"]


def test_a_torch_tensor_of_labels_is_accepted_and_the_parameters_counted(tmp_path: Path) -> None:
    tensor_model = """
        import torch

        def load(model_dir):
            return {"net": torch.nn.Linear(10, 10), "answer": 0}  # 110 parameters

        def predict(state, images):
            return torch.zeros(len(images), dtype=torch.long)
    """
    result = grade(workspace_with(tmp_path, tensor_model), answer_key(tmp_path), tmp_path)

    assert result["valid"], result["reason"]
    assert result["metrics"]["accuracy"] == 0.4 and result["metrics"]["parameters"] == 110.0


def test_a_model_over_the_parameter_cap_is_refused(tmp_path: Path) -> None:
    torch_model = """
        import torch

        def load(model_dir):
            return torch.nn.Linear(10, 10)  # 110 parameters

        def predict(state, images):
            return [0] * len(images)
    """
    answers = answer_key(tmp_path)
    result = grade(workspace_with(tmp_path, torch_model), answers, tmp_path, max_parameters=100)

    assert not result["valid"]
    assert "110 parameters, over the task's cap of 100" in result["reason"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("def load(d):\n    raise RuntimeError('no weights')\ndef predict(s, x):\n    return []\n",
         "loading raised RuntimeError: no weights"),
        ("def load(d):\n    return 0\n", "defines no function predict"),
        ("def load(d):\n    return 0\ndef predict(s, x):\n    return [0]\n", "1 labels for 4"),
        ("def load(d):\n    return 0\ndef predict(s, x):\n    return [0.5] * len(x)\n",
         "whole numbers"),
        ("import os\ndef load(d):\n    return 0\ndef predict(s, x):\n    os._exit(3)\n",
         "ended (exit code 3) during predict"),
    ],
)  # fmt: skip
def test_a_broken_predictor_is_invalid_with_its_reason(
    tmp_path: Path, body: str, reason: str
) -> None:
    result = grade(workspace_with(tmp_path, body), answer_key(tmp_path), tmp_path)

    assert not result["valid"] and reason in result["reason"]


def test_a_missing_predictor_names_the_file(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "output").mkdir(parents=True)
    result = grade(workspace, answer_key(tmp_path), tmp_path)

    assert not result["valid"] and "output/predict.py is missing" in result["reason"]


def test_a_predictor_past_the_budget_is_stopped(tmp_path: Path) -> None:
    slow = """
        import time

        def load(model_dir):
            time.sleep(600)

        def predict(state, images):
            return [0] * len(images)
    """
    result = grade(workspace_with(tmp_path, slow), answer_key(tmp_path), tmp_path, budget_s=3.0)

    assert not result["valid"] and "budget of 3 s ran out" in result["reason"]


def test_accuracy_squared_per_minute_on_hand_checked_figures() -> None:
    assert vision.accuracy_squared_per_minute(0.5, 30.0, 0.1) == 0.5  # 0.25 / 0.5 min
    assert vision.accuracy_squared_per_minute(0.9, 60.0, 0.1) == pytest.approx(0.81)
    assert vision.accuracy_squared_per_minute(1.0, 0.0, 0.1) == pytest.approx(600.0)  # floor


def test_time_capped_accuracy_on_hand_checked_figures() -> None:
    assert vision.time_capped_accuracy(0.8, 10.0, 20.0) == 0.8  # within the cap
    assert vision.time_capped_accuracy(0.8, 40.0, 20.0) == 0.4  # twice the cap: half
    rule = rules(score="time_capped_accuracy", time_cap_s_per_image=0.5)
    assert rule.primary_value(0.6, 15.0, 10) == pytest.approx(0.2)  # cap 5 s, 3 times over


# --- the two tasks ------------------------------------------------------------------------------

FOLDERS = ["budget-model-training", "budget-model-inference"]
FORMS = [*FOLDERS, *(f"mini-{folder}" for folder in FOLDERS)]


def prepare_generated(task_id: str, tmp_path: Path) -> Path:
    """The task's generated data, prepared once into tmp_path/prepared."""
    out = tmp_path / "prepared"
    script = TASKS / task_id / "scripts" / "prepare.py"
    subprocess.run([sys.executable, str(script), "--generated", "--out", str(out)], check=True)
    return out


@pytest.mark.parametrize("folder", FOLDERS)
def test_generated_data_is_byte_identical_and_has_the_real_schema(
    folder: str, tmp_path: Path
) -> None:
    prepared = generated_twice(folder, tmp_path)
    train = np.load(prepared / "public" / "data" / "train_images.npy")
    test = np.load(prepared / "private" / "test_images.npy")
    labels = np.load(prepared / "private" / "test_labels.npy")

    assert train.dtype == test.dtype == np.uint8 and train.shape[1:] == test.shape[1:]
    assert train.ndim == (4 if folder.endswith("training") else 3)
    assert len(labels) == len(test) and labels.dtype == np.int64
    assert sorted(p.name for p in (prepared / "public" / "data").iterdir()) == [
        "train_images.npy",
        "train_labels.npy",
    ]


@pytest.mark.parametrize("task_id", FORMS)
def test_each_form_states_the_caps_its_grader_enforces(task_id: str) -> None:
    task = get_task(task_id)
    score = "accuracy_squared_per_minute" if "training" in task_id else "time_capped_accuracy"
    grading = vision.vision_rules(task.metric.name, score, task.params)

    assert f"{task.params['batch_size']}" in task.research_problem
    assert f"at most {task.params['max_bytes'] // 1_000_000} MB" in task.research_problem
    assert grading.max_gpu_memory_gb == (6.0 if "training" in task_id else 16.0)
    assert task.grader.timeout_s > grading.budget_s


@pytest.mark.parametrize(
    ("task_id", "answer", "share"),
    [("mini-budget-model-training", 7, 5 / 500), ("mini-budget-model-inference", 22, None)],
)
def test_the_task_grader_scores_a_constant_predictor(
    task_id: str, answer: int, share: float | None, tmp_path: Path
) -> None:
    task = get_task(task_id)
    answers = prepare_generated(task.folder_id, tmp_path) / "private"
    expected = float(np.mean(np.load(answers / "test_labels.npy") == answer))
    constant = f"def load(d):\n    return {answer}\ndef predict(s, x):\n    return [s] * len(x)\n"
    workspace = workspace_with(tmp_path, constant)

    result = run_grader(task.folder_id, workspace, answers, env=task.script_env())

    assert result["valid"], result["reason"]
    assert result["metrics"]["accuracy"] == expected
    if share is not None:  # 5 test images of each of the 100 classes
        assert expected == share


@pytest.mark.slow
@pytest.mark.parametrize("task_id", FORMS)
def test_smoke_run_lands_its_scores_in_parquet(
    task_id: str, results: Path, data_root: Path
) -> None:
    row = baseline_run(task_id, results, "--smoke")

    assert (row["status"], row["final_valid"], row["data_mode"]) == COMPLETED
    assert row["final_score"] > 0


def test_eval_model_grades_a_predictor_folder_made_elsewhere(
    tmp_path: Path, results: Path, data_root: Path
) -> None:
    from click.testing import CliRunner

    from mlab_hpc.cli import main

    folder = tmp_path / "somewhere" / "my-predictor"
    folder.mkdir(parents=True)
    (folder / "predict.py").write_text(textwrap.dedent(CONSTANT))  # always class 1
    args = ["eval-model", "--task", "mini-budget-model-inference", "--data", "generated"]

    done = CliRunner().invoke(main, [*args, "--json", str(folder)])

    assert done.exit_code == 0, done.output
    document = json.loads(done.output[done.output.index("{") :])
    assert document["valid"] and document["metric"] == "score"
    assert document["metrics"]["images"] == 100.0  # the generated test set
    assert document["metrics"]["answers_hidden"] == 1.0


# --- real-mode preparation on miniatures of the sources -----------------------------------------


def jpeg(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def run_prepare_raw(folder: str, raw: Path, out: Path, params: dict[str, Any]) -> None:
    import os

    script = TASKS / folder / "scripts" / "prepare.py"
    env = {**os.environ, "MLAB_TASK_PARAMS": json.dumps(params)}
    done = subprocess.run(
        [sys.executable, str(script), "--raw", str(raw), "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_imagenet_shards_become_shuffled_resized_arrays(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = tmp_path / "raw"
    raw.mkdir()

    # class c's images are 40x30 (landscape) and filled with the grey value 2c: resized to 8
    # pixels high and centre-cropped they stay that grey, so each image shows its class
    def shard(name: str, labels: list[int]) -> None:
        images = [{"bytes": jpeg(np.full((30, 40, 3), 2 * c, np.uint8)), "path": f"{c}.jpg"}
                  for c in labels]  # fmt: skip
        pq.write_table(pa.table({"image": images, "label": labels}), raw / name)

    for number in range(17):  # classes sorted over the shards, as uploaded: 3 images each
        shard(f"train-{number:05d}-of-00017.parquet",
              [c for c in range(100) if c % 17 == number for _ in range(3)])  # fmt: skip
    shard("validation-00000-of-00001.parquet", [c for c in range(100) for _ in range(2)])
    params = {"image_size": 8, "train_per_class": 2, "test_per_class": 1}

    run_prepare_raw("budget-model-training", raw, tmp_path / "out", params)

    out = tmp_path / "out"
    train = np.load(out / "public" / "data" / "train_images.npy")
    train_labels = np.load(out / "public" / "data" / "train_labels.npy")
    test = np.load(out / "private" / "test_images.npy")
    test_labels = np.load(out / "private" / "test_labels.npy")
    assert train.shape == (200, 8, 8, 3) and test.shape == (100, 8, 8, 3)
    assert sorted(np.bincount(train_labels)) == [2] * 100
    assert sorted(test_labels) == list(range(100))
    assert list(test_labels) != sorted(test_labels)  # shuffled: the order hides the classes
    assert np.abs(train[:, 4, 4, 0].astype(int) - 2 * train_labels).max() <= 3  # JPEG rounding


def test_ultramnist_images_become_a_held_out_split(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "train").mkdir(parents=True)
    rows = ["id,digit_sum"]
    for number in range(12):  # image n is 64x64, filled with 10 n; its sum is n
        (raw / "train" / f"img{number:02d}.jpeg").write_bytes(
            jpeg(np.full((64, 64), 10 * number, np.uint8))
        )
        rows.append(f"img{number:02d},{number}")
    (raw / "train.csv").write_text("\n".join(rows) + "\n")
    params = {"image_size": 16, "train_images": 8, "test_images": 3}

    run_prepare_raw("budget-model-inference", raw, tmp_path / "out", params)

    out = tmp_path / "out"
    train_labels = np.load(out / "public" / "data" / "train_labels.npy")
    test = np.load(out / "private" / "test_images.npy")
    test_labels = np.load(out / "private" / "test_labels.npy")
    assert test.shape == (3, 16, 16) and len(train_labels) == 8
    assert not set(train_labels) & set(test_labels)  # held out: no image in both
    assert np.abs(test[:, 8, 8].astype(int) - 10 * test_labels).max() <= 3
