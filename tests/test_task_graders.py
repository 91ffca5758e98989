"""The graders (tasks/<id>/scripts/eval.py) of cartpole, vectorization and house-price.

Each grader runs as the harness runs it: a subprocess with the workspace as cwd, writing
OUT.json. Metrics are checked against values computed by hand on tiny inputs; broken
submissions must come back as valid=false with a reason that says what is wrong.
"""

from __future__ import annotations

import ast
import json
import math
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from mlab_hpc.grader_lib.mlab_timing import median_interval

TASKS = Path(__file__).resolve().parents[1] / "tasks"


def grade(task: str, workspace: Path, answers: Path | None = None) -> dict[str, Any]:
    """Run a task's grader on `workspace` as the harness does; return its OUT.json."""
    if answers is None:
        answers = workspace.parent / "answers"
        answers.mkdir(exist_ok=True)
    out = workspace.parent / "out.json"
    before = sorted(path.relative_to(workspace) for path in workspace.rglob("*"))
    completed = subprocess.run(
        [
            sys.executable,
            str(TASKS / task / "scripts" / "eval.py"),
            "--workspace",
            str(workspace),
            "--answers",
            str(answers),
            "--out",
            str(out),
        ],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    after = sorted(path.relative_to(workspace) for path in workspace.rglob("*"))
    assert after == before, "the grader must leave the workspace as it found it"
    result: dict[str, Any] = json.loads(out.read_text())
    assert set(result) >= {"valid", "reason", "metrics"}
    if not result["valid"]:
        assert result["metrics"] == {}
        assert result["reason"] and "\n" not in result["reason"]
    return result


def make_workspace(tmp_path: Path, files: dict[str, str]) -> Path:
    """A workspace folder holding `files` (name -> text, dedented)."""
    workspace = tmp_path / "workspace"
    workspace.mkdir(parents=True)
    for name, text in files.items():
        (workspace / name).write_text(textwrap.dedent(text))
    return workspace


# --- cartpole -----------------------------------------------------------------------------

CARTPOLE_ENV = TASKS / "cartpole" / "env"

# A linear controller, gains @ observation > 0 -> push right, balances for all 500 steps.
LINEAR_POLICY = """
    import numpy as np

    def load(observation_space, action_space):
        gains = np.load("weights.npz")["gains"]  # relative to the workspace

        def act(observation):
            return int(gains @ observation > 0)

        return act
"""


def test_cartpole_linear_controller_scores_the_500_cap(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path, {"policy.py": LINEAR_POLICY})
    np.savez(workspace / "weights.npz", gains=np.array([0.1, 0.5, 3.0, 0.5]))

    result = grade("cartpole", workspace)

    assert result["valid"], result["reason"]
    assert result["metrics"]["mean_return"] == 500.0
    assert result["metrics"]["std_return"] == 0.0
    assert result["agent_reported"] is None


def test_cartpole_starter_random_policy_scores_low_and_repeatably(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(CARTPOLE_ENV, workspace)

    first = grade("cartpole", workspace)
    second = grade("cartpole", workspace)

    assert first["valid"], first["reason"]
    assert 10 < first["metrics"]["mean_return"] < 100
    assert second["metrics"] == first["metrics"], "seeded action space: same score every run"


def test_cartpole_reported_number_is_recorded_but_not_trusted(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(CARTPOLE_ENV, workspace)
    (workspace / "submission.txt").write_text("500.0\n")

    result = grade("cartpole", workspace)

    assert result["valid"]
    assert result["agent_reported"] == 500.0
    assert result["metrics"]["mean_return"] < 100


def test_cartpole_policy_that_patches_the_environment_is_scored_on_the_real_one(
    tmp_path: Path,
) -> None:
    workspace = make_workspace(
        tmp_path,
        {
            "policy.py": """
                from gymnasium.envs.classic_control import cartpole

                cartpole.CartPoleEnv.theta_threshold_radians = 100.0  # the pole never falls
                cartpole.CartPoleEnv.x_threshold = 1e9

                def load(observation_space, action_space):
                    return lambda observation: int(action_space.sample())
            """
        },
    )

    result = grade("cartpole", workspace)

    assert result["valid"], result["reason"]
    assert result["metrics"]["mean_return"] < 100


def test_cartpole_starter_train_script_writes_its_mean_return(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(CARTPOLE_ENV, workspace)

    subprocess.run([sys.executable, "train.py"], cwd=workspace, check=True, capture_output=True)

    assert 10 < float((workspace / "submission.txt").read_text()) < 100


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        (
            """
            def load(observation_space, action_space):
                return lambda observation: 1 / 0
            """,
            "the policy raised ZeroDivisionError: division by zero (episode 0, step 0)",
        ),
        ("raise ImportError('no torch here')\n", "importing policy.py raised ImportError"),
        (
            """
            def load(observation_space, action_space):
                raise FileNotFoundError("weights.npz")
            """,
            "load(observation_space, action_space) raised FileNotFoundError",
        ),
        ("def make_policy():\n    pass\n", "policy.py defines no load("),
        (
            """
            def load(observation_space, action_space):
                return lambda observation: 2
            """,
            "the policy returned 2 (type int), which is not in the action space Discrete(2)",
        ),
        (
            """
            def load(observation_space, action_space):
                return lambda observation: 1.0
            """,
            "returned 1.0 (type float), which is not in the action space",
        ),
        (
            """
            import os

            def load(observation_space, action_space):
                return lambda observation: os._exit(3)
            """,
            "the policy's process exited with code 3",
        ),
    ],
    ids=["raises", "import-fails", "load-fails", "no-load", "action-2", "float-action", "exit"],
)
def test_cartpole_broken_policy_is_invalid(tmp_path: Path, policy: str, reason: str) -> None:
    workspace = make_workspace(tmp_path, {"policy.py": policy, "submission.txt": "480\n"})

    result = grade("cartpole", workspace)

    assert not result["valid"]
    assert reason in result["reason"]
    assert result["agent_reported"] == 480.0


def test_cartpole_missing_policy_is_invalid(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path, {"train.py": "print('no policy here')\n"})

    result = grade("cartpole", workspace)

    assert not result["valid"]
    assert result["reason"] == "policy.py is missing from the workspace"


# --- vectorization ------------------------------------------------------------------------

VECTORIZATION = TASKS / "vectorization"
STARTER_CONV = (VECTORIZATION / "env" / "train.py").read_text()
REFERENCE_CONV = (VECTORIZATION / "baselines" / "human" / "train.py").read_text()


def conv_workspace(tmp_path: Path, source: str, submission: str | None = None) -> Path:
    """A workspace with `source` as train.py, and submission.csv if given."""
    files = {"train.py": source}
    if submission is not None:
        files["submission.csv"] = submission
    return make_workspace(tmp_path, files)


def test_vectorization_reference_script_appends_one_line_per_run(tmp_path: Path) -> None:
    workspace = conv_workspace(tmp_path, REFERENCE_CONV)
    for _ in range(2):
        subprocess.run([sys.executable, "train.py"], cwd=workspace, check=True, capture_output=True)

    times = [float(line) for line in (workspace / "submission.csv").read_text().splitlines()]

    assert len(times) == 2
    assert all(0 < time < 5 for time in times)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("        output += self.bias\n", "", "differs from the reference convolution"),
        (
            "        windows = windows[:, :: self.stride, :: self.stride]\n",
            "",
            "forward output has shape",
        ),
        ("            output = relu(output)\n", "            pass\n", "relu True"),
        (
            "        padded = self.pad(images)\n",
            "        raise MemoryError('too big')\n",
            "forward raised MemoryError: too big",
        ),
        ("class Conv2D:", "class Convolution:", "train.py defines no Conv2D class"),
        ("import numpy as np\n", "import numpy as np\nimport not_installed_module\n", "importing"),
    ],
    ids=["no-bias", "no-stride", "no-relu", "raises", "renamed", "import-fails"],
)
def test_vectorization_wrong_forward_is_invalid(
    tmp_path: Path, old: str, new: str, reason: str
) -> None:
    assert old in REFERENCE_CONV
    workspace = conv_workspace(tmp_path, REFERENCE_CONV.replace(old, new, 1))

    result = grade("vectorization", workspace)

    assert not result["valid"]
    assert reason in result["reason"]


def test_vectorization_script_without_the_layer_is_invalid(tmp_path: Path) -> None:
    result = grade("vectorization", conv_workspace(tmp_path, "import numpy as np\n"))

    assert not result["valid"]
    assert result["reason"] == "train.py defines no Conv2D class"


def test_vectorization_missing_script_is_invalid(tmp_path: Path) -> None:
    result = grade("vectorization", make_workspace(tmp_path, {"notes.txt": "todo\n"}))

    assert not result["valid"]
    assert result["reason"] == "train.py is missing from the workspace"


def test_vectorization_problem_states_the_forward_line_range() -> None:
    problem = tomllib.loads((VECTORIZATION / "task.toml").read_text())["research_problem"]
    forward = next(
        node
        for node in ast.walk(ast.parse(STARTER_CONV))
        if isinstance(node, ast.FunctionDef) and node.name == "forward"
    )

    assert f"lines {forward.lineno} to {forward.end_lineno} of train.py" in problem


# --- house-price --------------------------------------------------------------------------


def house_case(tmp_path: Path, submission: str | None) -> tuple[Path, Path]:
    """A 3-house answer key (Ids 11-13) and a workspace with `submission` as its csv."""
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "answer.csv").write_text("Id,SalePrice\n11,100000\n12,200000\n13,300000\n")
    files = {} if submission is None else {"submission.csv": submission}
    return make_workspace(tmp_path, files), answers


def test_house_price_metrics_by_hand(tmp_path: Path) -> None:
    # Off by a factor e, exact, and by a factor 1/e, in shuffled order: every log error is
    # 1, 0 or -1, so rmse_log = sqrt(2/3); the absolute errors are 100000 (e - 1), 0 and
    # 300000 (1 - 1/e), so mae = (171828.18 + 189636.17) / 3 = 120488.12.
    e = math.e
    workspace, answers = house_case(
        tmp_path, f"Id,SalePrice\n13,{300000 / e!r}\n11,{100000 * e!r}\n12,200000\n"
    )

    result = grade("house-price", workspace, answers)

    assert result["valid"], result["reason"]
    assert result["metrics"]["rmse_log"] == pytest.approx(math.sqrt(2 / 3))
    assert result["metrics"]["mae"] == pytest.approx(120488.12, abs=0.01)
    assert result["agent_reported"] is None


def test_house_price_small_errors_by_hand(tmp_path: Path) -> None:
    # Errors of +10000, 0, -30000: mae = 40000 / 3; log errors ln 1.1, 0, ln 0.9:
    # rmse_log = sqrt((0.0953102^2 + 0.1053605^2) / 3) = 0.0820261.
    workspace, answers = house_case(
        tmp_path, "Id,SalePrice,Note\n11.0,110000,a\n12,200000,b\n13,270000,c\n"
    )

    result = grade("house-price", workspace, answers)

    assert result["valid"], result["reason"]
    assert result["metrics"]["mae"] == pytest.approx(40000 / 3)
    assert result["metrics"]["rmse_log"] == pytest.approx(0.0820261, abs=1e-7)


@pytest.mark.parametrize(
    ("submission", "reason"),
    [
        (None, "submission.csv is missing from the workspace"),
        ("", "submission.csv cannot be read as CSV"),
        ("Id,Price\n11,1\n12,2\n13,3\n", "submission.csv has no SalePrice column"),
        ("SalePrice\n1\n2\n3\n", "submission.csv has no Id column"),
        (
            "Id,SalePrice\n11,1\n12,2\n",
            "submission.csv has 2 rows for the 3 test houses: 1 test house missing (Id 13)",
        ),
        (
            "Id,SalePrice\n11,1\n12,2\n13,3\n14,4\n",
            "submission.csv has 4 rows for the 3 test houses: 1 Id value not in test.csv (14)",
        ),
        ("Id,SalePrice\n11,1\n12,2\n12,3\n", "1 Id value repeated: 12"),
        ("Id,SalePrice\n11,1\nxii,2\n13,3\n", "1 Id value not a whole number: 'xii'"),
        ("Id,SalePrice\n11,1\n12,NaN\n13,3\n", "SalePrice is empty, NaN or not a number"),
        ("Id,SalePrice\n11,1\n12,\n13,3\n", "SalePrice is empty, NaN or not a number in 1 row"),
        ("Id,SalePrice\n11,1\n12,cheap\n13,3\n", "(Id 12)"),
        ("Id,SalePrice\n11,inf\n12,2\n13,3\n", "SalePrice is infinite in 1 row (Id 11)"),
        (
            "Id,SalePrice\n11,0\n12,-5\n13,3\n",
            "SalePrice is zero or negative in 2 rows (Id 11, 12)",
        ),
    ],
    ids=[
        "missing-file",
        "empty-file",
        "no-price-column",
        "no-id-column",
        "missing-row",
        "extra-row",
        "duplicate-id",
        "text-id",
        "nan",
        "empty-price",
        "text-price",
        "inf",
        "non-positive",
    ],
)
def test_house_price_invalid_submission(
    tmp_path: Path, submission: str | None, reason: str
) -> None:
    workspace, answers = house_case(tmp_path, submission)

    result = grade("house-price", workspace, answers)

    assert not result["valid"]
    assert reason in result["reason"]


def test_house_price_starter_end_to_end_on_generated_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, str(TASKS / "house-price" / "scripts" / "prepare.py"), "--generated"]
        + ["--out", str(data)],
        check=True,
        capture_output=True,
    )
    workspace = tmp_path / "workspace"
    shutil.copytree(TASKS / "house-price" / "env", workspace)
    for path in (data / "public").iterdir():
        shutil.copy(path, workspace)

    run = subprocess.run(
        [sys.executable, "train.py"], cwd=workspace, check=True, capture_output=True, text=True
    )
    result = grade("house-price", workspace, data / "private")

    assert "Validation MAE" in run.stdout
    assert result["valid"], result["reason"]
    # Far better than predicting the mean training price, whose MAE is about 60000 here.
    assert result["metrics"]["mae"] < 45000
    assert result["metrics"]["rmse_log"] < 0.3


# --- vectorization: paired, interleaved timing against the starter -------------------------

VECTORIZATION_EVAL = VECTORIZATION / "scripts" / "eval.py"
SMALL_CONV = (2, 8, 8, 3, 4, 3, 1, 1, True)  # a test-only size: the starter takes milliseconds


def load_vectorization_eval() -> Any:
    """The vectorization grader as a module (its main does not run)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("vectorization_eval", VECTORIZATION_EVAL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_vectorization_grader_holds_a_pristine_copy_of_the_starter() -> None:
    assert (VECTORIZATION / "scripts" / "starter_train.py").read_text() == STARTER_CONV


def test_vectorization_median_interval_uses_order_statistics() -> None:
    assert median_interval([float(v) for v in range(9)]) == (1.0, 7.0)
    assert median_interval([float(v) for v in range(20)]) == (5.0, 14.0)
    assert median_interval([3.0, 1.0]) == (1.0, 3.0)


def time_small(grader: ModuleType, workspace: Path) -> dict[str, float]:
    """The grader's timing of workspace/train.py against the starter at the test-only size."""
    out_dir = workspace.parent / "grader-out"
    out_dir.mkdir(exist_ok=True)
    return grader.time_against_starter(
        workspace / "train.py", out_dir, grader.Problem(*SMALL_CONV), min_measure_s=0.01
    )


@pytest.mark.slow  # 20 gradings of 8 waves of two fresh processes: about a minute
def test_vectorization_unchanged_submission_never_succeeds_in_20_tries(tmp_path: Path) -> None:
    """The starter graded against itself: speedup near 1, never speedup_low >= 1 / 0.9."""
    grader = load_vectorization_eval()
    workspace = conv_workspace(tmp_path, STARTER_CONV)

    tries = [time_small(grader, workspace) for _ in range(20)]

    successes = [t for t in tries if t["speedup_low"] >= grader.SUCCESS_SPEEDUP]
    assert successes == [], successes
    for metrics in tries:
        assert metrics["speedup_low"] <= metrics["speedup"] <= metrics["speedup_high"]
        assert (metrics["timing_waves"], metrics["timing_pairs"]) == (8.0, 16.0)


# The agent's code can rewrite anything in the process it runs in. In the grader's process (as
# the grader once ran it) these two lines made the unchanged starter a success: speedup_low 9.0.
FORGES_THE_STATISTICS = (
    STARTER_CONV
    + """

import __main__ as _grader
import time as _time

_grader.median_interval = lambda values, confidence=0.95: (9.0, 9.0)
_grader.speedup_over_waves = lambda waves: {"speedup_low": 9.0}
_time.perf_counter = lambda: 0.0
"""
)

# Returns its first output for every later call (a cache that ignores its input): the small
# problems (one call per layer) pass, the timed calls return stale outputs.
STALE = REFERENCE_CONV.replace(
    "    def forward(self, images: np.ndarray) -> np.ndarray:",
    "    def forward(self, images):\n"
    "        if getattr(self, '_last', None) is None:\n"
    "            self._last = self._forward(images)\n"
    "        return self._last\n\n"
    "    def _forward(self, images: np.ndarray) -> np.ndarray:",
    1,
)


def test_vectorization_agent_code_cannot_touch_the_grader(tmp_path: Path) -> None:
    grader = load_vectorization_eval()
    workspace = conv_workspace(tmp_path, FORGES_THE_STATISTICS)

    metrics = time_small(grader, workspace)

    assert metrics["speedup_low"] < grader.SUCCESS_SPEEDUP, metrics
    assert metrics["run_time_s"] > 0 and metrics["answers_hidden"] == 1.0


def test_vectorization_an_output_not_computed_for_its_input_is_caught(tmp_path: Path) -> None:
    assert "self._forward(images)" in STALE
    grader = load_vectorization_eval()

    with pytest.raises(grader.InvalidSubmission, match="differs from the reference"):
        time_small(grader, conv_workspace(tmp_path, STALE))


def test_vectorization_vectorised_submission_succeeds_with_its_spread(tmp_path: Path) -> None:
    workspace = conv_workspace(tmp_path, REFERENCE_CONV, "1.93\n0.5\n0.0123\n")

    result = grade("vectorization", workspace)

    metrics = result["metrics"]
    assert result["valid"], result["reason"]
    assert result["agent_reported"] == 0.0123  # the last appended number, never the score
    assert metrics["speedup_low"] > 10  # the vectorised reference: hundreds of times faster
    assert metrics["speedup_low"] <= metrics["speedup"] <= metrics["speedup_high"]
    assert metrics["run_time_s"] * 10 < metrics["starter_time_s"]
    # (the unchanged starter at full size is graded by test_run_e2e's vectorization run)


# --- house-price: the human-relative anchors ----------------------------------------------


def human_relative(task_id: str, best_hr_raw: float, starter_hr_raw: float) -> float:
    """Human-relative as the analysis computes it: the best normalised score, never below
    naive, placed between naive (0) and human (1); a "starter" naive is the starter's score."""
    from mlab_hpc.taskspec import load_task

    hr = load_task(TASKS / task_id).human_relative
    naive = starter_hr_raw if hr.naive == "starter" else hr.naive
    naive_n, human_n = hr.normalize(naive), hr.normalize(hr.human)
    return (max(hr.normalize(best_hr_raw), naive_n) - naive_n) / (human_n - naive_n)


def test_house_price_constant_mean_does_not_beat_the_starter_in_human_relative(
    tmp_path: Path,
) -> None:
    """On generated data a constant-mean submission is worse than the unchanged starter, so
    its human-relative must not exceed the starter's (HR-MLAB's naive, a leaderboard's
    weakest RMSE of 31.4, gave it 0.72)."""
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, str(TASKS / "house-price" / "scripts" / "prepare.py"), "--generated",
         "--out", str(data)],
        check=True, capture_output=True,
    )  # fmt: skip
    starter_ws = make_workspace(
        tmp_path / "starter", {"train.py": (TASKS / "house-price" / "env" / "train.py").read_text()}
    )
    for name in ("train.csv", "test.csv"):
        shutil.copy(data / "public" / name, starter_ws / name)
    subprocess.run(
        [sys.executable, "train.py"], cwd=starter_ws, check=True, capture_output=True, timeout=120
    )
    (starter_ws / "train.csv").unlink()
    (starter_ws / "test.csv").unlink()
    mean_price = float(np.mean(np.loadtxt(data / "public" / "train.csv", delimiter=",",
                                          skiprows=1, usecols=-1)))  # fmt: skip
    test_ids = [line.split(",")[0] for line in (data / "public" / "test.csv").read_text()
                .splitlines()[1:]]  # fmt: skip
    constant = "Id,SalePrice\n" + "".join(f"{i},{mean_price}\n" for i in test_ids)
    constant_ws = make_workspace(tmp_path / "constant", {"submission.csv": constant})

    starter = grade("house-price", starter_ws, data / "private")["metrics"]["rmse_log"]
    flat = grade("house-price", constant_ws, data / "private")["metrics"]["rmse_log"]

    assert flat > starter  # the constant mean is the worse submission
    assert human_relative("house-price", starter, starter) == 0.0
    assert human_relative("house-price", flat, starter) == 0.0


def test_vectorization_timing_stops_at_its_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a forward too slow to time within the grader's limit is invalid, with the reason, rather
    # than a grader killed at its timeout
    grader = load_vectorization_eval()
    monkeypatch.setattr(grader, "TIMING_BUDGET_S", 0.0)

    with pytest.raises(grader.InvalidSubmission, match="forward is too slow to be timed"):
        time_small(grader, conv_workspace(tmp_path, REFERENCE_CONV))
