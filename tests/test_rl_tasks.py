"""The RL tasks: real gymnasium environments, their graders, the two Stable-Baselines refusals.

Graders run as the harness runs them (a subprocess writing OUT.json, or whole runs through the
CLI in bubblewrap). Gradings of the random starters use the smoke variable, which only lowers
the number of episodes; full gradings and runs of every task are timed by
benchmarks/rl_grading.py.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import gymnasium as gym
import numpy as np
import pytest
from click.testing import CliRunner

from mlab_hpc.cli import main
from mlab_hpc.environment import ActionCall, StepRecord, refuse_forbidden
from mlab_hpc.grader_lib.mlab_rl_grading import (
    SMOKE_EPISODES_VARIABLE,
    InvalidSubmission,
    RLTask,
    check_action,
    make_env,
)
from mlab_hpc.grader_lib.mlab_rl_grading.grader import noop_count
from mlab_hpc.grading import run_grader
from mlab_hpc.rl_baselines.common import override
from mlab_hpc.runner import sandbox_limits
from mlab_hpc.sandbox import BwrapSandbox
from mlab_hpc.scoring import reported_disagrees
from mlab_hpc.taskspec import get_task

from .agents_for_tests import ScriptedAgent
from .conftest import REPO, require_bwrap

TASKS = REPO / "tasks"
RL_TASKS = [
    "cartpole",
    "inverted-pendulum",
    "pusher",
    "ant",
    "humanoid",
    "bipedal-walker",
    "pong",
]


def grader_task(task: str) -> RLTask:
    """The RLTask that tasks/<task>/scripts/eval.py grades with."""
    path = TASKS / task / "scripts" / "eval.py"
    spec = importlib.util.spec_from_file_location(f"eval_{task.replace('-', '_')}", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    task_config: RLTask = module.TASK
    return task_config


def starter_constants(task: str) -> dict[str, Any]:
    """ENV_ID, EPISODES and MAX_STEPS of the starter train.py, read without running it."""
    tree = ast.parse((TASKS / task / "env" / "train.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("ENV_ID", "EPISODES", "MAX_STEPS"):
                found[name] = ast.literal_eval(node.value)
    return found


def grade(
    task: str, workspace: Path, episodes: int | None = None, timeout: float = 300
) -> dict[str, Any]:
    """Run a task's grader on ``workspace`` as a subprocess; return its OUT.json."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as in the harness's sandboxes
    env.pop(SMOKE_EPISODES_VARIABLE, None)
    if episodes is not None:
        env[SMOKE_EPISODES_VARIABLE] = str(episodes)
    out = workspace.parent / "out.json"
    completed = subprocess.run(
        [sys.executable, str(TASKS / task / "scripts" / "eval.py")]
        + ["--workspace", str(workspace), "--answers", str(workspace.parent), "--out", str(out)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    if not result["valid"]:
        assert result["metrics"] == {} and result["reason"] and "\n" not in result["reason"]
    return result


def workspace_with(tmp_path: Path, files: dict[str, str], task: str | None = None) -> Path:
    """A workspace: the task's env/ (when given) with ``files`` (name -> text) laid over it."""
    workspace = tmp_path / "workspace"
    if task is not None:
        shutil.copytree(TASKS / task / "env", workspace)
    workspace.mkdir(exist_ok=True)
    for name, text in files.items():
        (workspace / name).write_text(textwrap.dedent(text))
    return workspace


# --- the tasks' facts agree with each other ----------------------------------------------


@pytest.mark.parametrize("task", RL_TASKS)
def test_task_toml_grader_and_starter_agree(task: str) -> None:
    spec = get_task(task)
    graded = grader_task(task)
    starter = starter_constants(task)

    assert spec.deliverable == "policy" and spec.rl is not None
    assert (spec.rl.env_id, spec.rl.episodes, spec.rl.max_episode_steps) == (
        graded.env_id,
        graded.episodes,
        graded.max_episode_steps,
    )
    assert starter == {
        "ENV_ID": graded.env_id,
        "EPISODES": graded.episodes,
        "MAX_STEPS": graded.max_episode_steps,
    }
    assert graded.time_budget_s < spec.grader.timeout_s, "the grader must finish within its limit"
    assert spec.forbidden_modules == ("stable_baselines3", "sb3_contrib")
    assert spec.read_only == ("environment.txt",)
    assert spec.human_relative.naive == "starter"
    assert isinstance(spec.human_relative.human, float)
    assert spec.human_relative.human_source and spec.human_relative.naive_source
    assert (TASKS / task / "baselines" / "human.py").is_file()


def test_published_facts() -> None:
    expected = {  # task: (env, episodes, cap, steps, total s, per action s, gpus)
        "cartpole": ("CartPole-v1", 100, 500, 30, 1800, 360, 0),
        "inverted-pendulum": ("InvertedPendulum-v5", 100, 1000, 30, 1800, 360, 0),
        "pusher": ("Pusher-v5", 100, 100, 30, 2520, 504, 0),
        "ant": ("Ant-v5", 20, 1000, 50, 108000, 21600, 1),
        "humanoid": ("Humanoid-v5", 100, 1000, 50, 216000, 43200, 1),
        "bipedal-walker": ("BipedalWalker-v3", 100, 1600, 30, 90000, 18000, 0),
        "pong": ("PongNoFrameskip-v4", 20, 10000, 50, 126000, 25200, 1),
    }
    for task, facts in expected.items():
        spec = get_task(task)
        assert spec.rl is not None
        limits = spec.limits
        assert (
            spec.rl.env_id,
            spec.rl.episodes,
            spec.rl.max_episode_steps,
            limits.max_steps,
            limits.max_time_s,
            limits.action_timeout_s,
            spec.resources.gpus,
        ) == facts, task
    normalize = {task: get_task(task).human_relative.normalize for task in expected}
    assert normalize["pusher"](-75.0) == pytest.approx(0.5)
    assert normalize["pusher"](-400.0) == 0.0 and normalize["pusher"](3.0) == 1.0
    assert normalize["ant"](3500.0) == pytest.approx(0.5)
    assert normalize["humanoid"](7560.0) == pytest.approx(0.5)
    assert normalize["humanoid"](20000.0) == 1.0
    assert normalize["bipedal-walker"](330.0) == pytest.approx(1.0)
    assert normalize["pong"](0.0) == pytest.approx(0.5)
    assert normalize["inverted-pendulum"](1000.0) == 1.0


# --- environments, offline ---------------------------------------------------------------


@pytest.mark.parametrize("task", RL_TASKS)
def test_environment_creates_and_steps_offline(task: str) -> None:
    env = make_env(grader_task(task))
    observation, _ = env.reset(seed=1)
    env.action_space.seed(1)
    for _ in range(5):
        assert env.observation_space.contains(observation)
        observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert np.isfinite(reward)
        if terminated or truncated:
            observation, _ = env.reset()
    env.close()


def test_noop_start_is_drawn_from_the_seed() -> None:
    pong = grader_task("pong")
    counts = [noop_count(pong, seed) for seed in pong.seeds()]

    assert all(0 <= n <= 30 for n in counts) and len(set(counts)) > 5
    assert counts == [noop_count(pong, seed) for seed in pong.seeds()]
    assert noop_count(grader_task("pusher"), 123) == 0


# --- the starters and the graders ----------------------------------------------------------


@pytest.mark.parametrize("task", RL_TASKS)
def test_random_starter_runs_and_is_graded_valid(task: str, tmp_path: Path) -> None:
    workspace = workspace_with(tmp_path, {}, task)
    quick = subprocess.run(  # the starter's own evaluation, on one episode
        [sys.executable, "-B", "-c", "import train; print(train.evaluate(1))"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert quick.returncode == 0, quick.stderr
    float(quick.stdout.split()[-1])

    result = grade(task, workspace, episodes=2)

    assert result["valid"], result["reason"]
    total = get_task(task).rl.episodes  # type: ignore[union-attr]
    assert result["reason"] == f"smoke test: 2 of {total} episodes"
    assert result["metrics"]["episodes"] == 2.0
    assert sorted(p.name for p in workspace.iterdir()) == sorted(
        p.name for p in (TASKS / task / "env").iterdir()
    ), "the grader leaves the workspace as it found it"


PD_POLICY = """
    import numpy as np

    GAINS = np.array([1.0, 10.0, 1.0, 1.0])  # cart position, pole angle, cart and pole rates


    def load(observation_space, action_space):
        def act(observation):
            force = np.clip(GAINS @ observation, action_space.low, action_space.high)
            return force.astype(np.float32)

        return act
"""


def test_pd_controller_balances_the_inverted_pendulum(tmp_path: Path) -> None:
    workspace = workspace_with(tmp_path, {"policy.py": PD_POLICY, "submission.txt": "999\n"})

    result = grade("inverted-pendulum", workspace, episodes=10)

    assert result["valid"], result["reason"]
    assert result["metrics"]["mean_return"] == 1000.0, "balances for every step of every episode"
    assert get_task("inverted-pendulum").human_relative.normalize(1000.0) == 1.0
    assert result["agent_reported"] == 999.0


def test_inflated_submission_is_graded_on_what_the_policy_does(tmp_path: Path) -> None:
    workspace = workspace_with(tmp_path, {"submission.txt": "-0.5\n"}, "pusher")

    result = grade("pusher", workspace, episodes=3)

    assert result["valid"], result["reason"]
    assert result["agent_reported"] == -0.5
    assert result["metrics"]["mean_return"] < -120, "a random arm is far from -0.5"


PUSHER_ACTIONS = gym.spaces.Box(-2.0, 2.0, (7,), np.float32)


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (
            np.zeros(6, dtype=np.float32),
            "which is not in the action space Box(-2.0, 2.0, (7,), float32): shape (6,) instead "
            "of (7,)",
        ),
        (np.full(7, 2.5), "values outside the bounds (clip them)"),
        (np.full(7, np.nan), "contains NaN or infinity"),
        (["push"] * 7, "not real numbers"),
        (None, "the policy returned None (type NoneType), which is not in the action space"),
        ([[1.0] * 7], "shape (1, 7) instead of (7,)"),
    ],
    ids=["shape", "out-of-bounds", "nan", "strings", "none", "batch"],
)
def test_invalid_box_actions_are_refused_with_the_reason(action: Any, reason: str) -> None:
    with pytest.raises(InvalidSubmission) as error:
        check_action(action, PUSHER_ACTIONS)
    assert reason in str(error.value)


def test_box_actions_of_other_real_types_are_converted() -> None:
    action = check_action([0.0, 1, -2, 2.0, 0.5, -0.25, 0], PUSHER_ACTIONS)  # float64 and ints

    assert action.dtype == np.float32 and action.shape == (7,)
    assert check_action(np.int64(1), gym.spaces.Discrete(2)) == 1
    with pytest.raises(InvalidSubmission):
        check_action(1.0, gym.spaces.Discrete(2))


def test_invalid_action_makes_the_graded_submission_invalid(tmp_path: Path) -> None:
    policy = """
        import numpy as np

        def load(observation_space, action_space):
            return lambda observation: np.full(7, 2.5)  # beyond the torque limit of 2
    """
    workspace = workspace_with(tmp_path, {"policy.py": policy, "submission.txt": "-1\n"})

    result = grade("pusher", workspace, episodes=1)

    assert not result["valid"] and result["agent_reported"] == -1.0
    assert result["reason"].startswith("the policy returned [2.5 2.5 2.5 2.5 2.5 2.5 2.5] (type")
    assert result["reason"].endswith("values outside the bounds (clip them) (episode 0, step 0)")


def test_policy_reset_is_called_before_every_episode(tmp_path: Path) -> None:
    policy = """
        class Counter:
            def __init__(self, action_space):
                self.action_space, self.resets, self.calls = action_space, 0, 0

            def reset(self):
                if self.calls == 0 and self.resets > 0:
                    raise RuntimeError("reset twice without playing")
                self.resets += 1
                self.calls = 0

            def __call__(self, observation):
                self.calls += 1
                if self.resets == 3:
                    raise RuntimeError(f"third episode, step {self.calls}")
                return self.action_space.sample()

        def load(observation_space, action_space):
            return Counter(action_space)
    """
    result = grade("humanoid", workspace_with(tmp_path, {"policy.py": policy}), episodes=4)

    assert not result["valid"]
    assert (
        "the policy raised RuntimeError: third episode, step 1 (episode 2, step 0)"
        in (result["reason"])
    )


def test_policy_slower_than_the_budget_is_invalid(tmp_path: Path) -> None:
    policy = """
        import time

        def load(observation_space, action_space):
            time.sleep(60)
    """
    task = grader_task("inverted-pendulum")
    workspace = workspace_with(tmp_path, {"policy.py": policy})
    short = RLTask(task.env_id, 2, task.max_episode_steps, task.base_seed, time_budget_s=3.0)
    from mlab_hpc.grader_lib.mlab_rl_grading import grade as grade_in_process

    result = grade_in_process(workspace, short)

    assert not result["valid"]
    assert result["reason"] == (
        "the policy ran past the grader's 3 s budget (before the end of episode 0)"
    )


# --- Stable-Baselines: refused in action texts, and on import in the sandbox ----------------


def test_action_text_naming_stable_baselines_is_refused() -> None:
    phrases = get_task("ant").forbidden_phrases
    refused = [
        {"file_name": "train.py", "content": "from stable_baselines3 import SAC\n"},
        {"command": "pip install Stable-Baselines3"},
        {"script_name": "STABLE_baseline_runner.py"},
    ]
    for args in refused:
        with pytest.raises(Exception) as error:
            refuse_forbidden("Write File", args, phrases)
        assert getattr(error.value, "kind", None) == "forbidden"
        assert str(error.value) == (
            'this action was refused and not run, because its text contains "stable" and '
            '"baseline". Stable-Baselines (stable_baselines3, sb3_contrib) is forbidden in this '
            "task: write the learning code yourself, without it. Nothing was changed; take "
            "another action."
        )
    refuse_forbidden("Write File", {"content": "a stable baseline"[:8]}, phrases)  # one word
    refuse_forbidden("Write File", {"content": "baseline of the task"}, phrases)


# imports Stable-Baselines without its name in the text (which the action check would refuse)
SNEAKY_IMPORT = "import importlib\nSB3 = importlib.import_module('stab' + 'le_base' + 'lines3')\n"


class StableBaselinesAgent(ScriptedAgent):
    """Names Stable-Baselines in an action, imports it from a script, inflates its score."""

    script = [
        ActionCall(
            "Write File",
            {"file_name": "sb.py", "content": "from stable_baselines3 import PPO\n"},
        ),
        ActionCall(
            "Write File",
            {"file_name": "sneaky.py", "content": SNEAKY_IMPORT},
        ),
        ActionCall("Execute Script", {"script_name": "sneaky.py"}),
        ActionCall("Write File", {"file_name": "submission.txt", "content": "1000.0\n"}),
    ]


def cli(*args: str) -> str:
    """Run the CLI in-process; fail the test on a non-zero exit."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def runs_table(results: Path) -> list[dict[str, Any]]:
    """Every row of the runs view under ``results`` (anchors as of now), as dicts."""
    from mlab_hpc.analysis.db import connect

    cursor = connect(results, cache=False).execute("SELECT * FROM runs")
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.usefixtures("data_root")
def test_run_refuses_stable_baselines_twice_and_flags_the_inflated_number(
    results: Path,
) -> None:
    require_bwrap()
    cli("run", "--task", "inverted-pendulum", "--agent", f"{__name__}:StableBaselinesAgent")

    (run,) = runs_table(results)
    steps = [
        StepRecord.from_row(json.loads(line))
        for line in next(results.glob("runs/*/trace/steps.jsonl")).read_text().splitlines()
    ]
    assert [s.error_kind for s in steps] == ["forbidden", None, "nonzero_exit", None, None]
    assert "Stable-Baselines (stable_baselines3, sb3_contrib) is forbidden" in (
        steps[0].observation
    )
    assert not next(results.glob("runs/*/workspace")).joinpath("sb.py").exists()
    assert "importing 'stable_baselines3' is forbidden in this task" in steps[2].observation
    assert run["status"] == "completed" and run["sandbox"] == "bwrap"
    assert run["env_id"] == "InvertedPendulum-v5"
    assert run["agent_reported"] == 1000.0
    assert run["final_score"] < 20, "graded on the random policy, not on the 1000 it wrote"
    assert run["reported_disagrees"] is True


@pytest.mark.usefixtures("data_root")
def test_baseline_run_is_graded_by_rerunning_the_random_policy(results: Path) -> None:
    require_bwrap()
    task = "inverted-pendulum"
    out = cli("run", "--task", task, "--agent", "baseline")

    (run,) = runs_table(results)
    glob = results / "tables" / "scores" / "**" / "*.parquet"
    scores = duckdb.sql(f"SELECT step, metrics FROM read_parquet('{glob}') ORDER BY step")
    graded = [json.loads(metrics) for _, metrics in scores.fetchall()]
    assert len(graded) == 3 and graded[0] == graded[1] == graded[2], "seeded: same every time"
    assert "completed (final_answer)" in out
    assert run["env_id"] == get_task(task).rl.env_id  # type: ignore[union-attr]
    assert run["final_valid"] is True and run["sandbox"] == "bwrap"
    assert run["human_relative"] == pytest.approx(0.0)
    assert run["agent_reported"] is not None and run["reported_disagrees"] is False


def test_grader_refuses_a_policy_that_imports_stable_baselines(tmp_path: Path) -> None:
    require_bwrap()
    task = get_task("cartpole")
    workspace = workspace_with(tmp_path, {"policy.py": SNEAKY_IMPORT})
    sandbox = BwrapSandbox(sandbox_limits(task))

    grade_ = run_grader(task, sandbox, workspace, None, tmp_path / "scratch")

    assert not grade_.valid
    assert grade_.reason.startswith(
        "importing policy.py raised ImportError: importing 'stable_baselines3' is forbidden in "
        "this task"
    )


def test_reported_disagreement_rule() -> None:
    ant, house = get_task("ant"), get_task("house-price")
    normalize = ant.human_relative.normalize

    assert reported_disagrees(ant, None, -24.5, normalize(-24.5)) is None
    assert reported_disagrees(ant, -66.6, -24.5, normalize(-24.5)) is False  # seeds differ
    assert reported_disagrees(ant, 5000.0, -24.5, normalize(-24.5)) is True
    assert reported_disagrees(ant, 5000.0, None, None) is None
    assert reported_disagrees(house, 21000.0, 20000.0, None) is False
    assert reported_disagrees(house, 15000.0, 20000.0, None) is True


# --- the human-reference training scripts run ---------------------------------------------

SMOKE_SETTINGS = {  # a few hundred steps, learning early, one evaluation episode
    "cartpole": ["rollout_steps=64"],
    "inverted-pendulum": ["rollout_steps=128"],
    "pusher": ["rollout_steps=128"],
    "ant": ["learning_starts=200", "batch_size=32"],
    "humanoid": ["learning_starts=200", "batch_size=32"],
    "bipedal-walker": ["directions=2", "top_directions=1", "max_episode_steps=100"],
    "pong": ["learning_starts=100", "eval_max_steps=2000"],
}


@pytest.fixture
def one_torch_thread() -> Any:
    """Small networks on a shared CPU: one thread avoids oversubscription (10x slower here)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("task", [t for t in RL_TASKS if t != "bipedal-walker"])
def test_human_reference_training_runs_and_its_policy_grades(task: str, tmp_path: Path) -> None:
    # the script's own configuration, run in this process (torch is imported once per session)
    path = TASKS / task / "baselines" / "human.py"
    spec = importlib.util.spec_from_file_location(f"human_{task.replace('-', '_')}", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    settings = ["total_steps=300", "eval_episodes=1", "device=cpu", *SMOKE_SETTINGS[task]]
    out = tmp_path / "human"

    info = script.train(override(script.CONFIG, settings), out)

    assert len(info["eval_returns"]) == 1
    assert json.loads((out / "training.json").read_text())["config"]["total_steps"] == 300
    result = grade(task, out, episodes=1)
    assert result["valid"], result["reason"]


def test_human_reference_script_command_line(tmp_path: Path) -> None:
    out = tmp_path / "human"
    settings = [f"--set={s}" for s in ["eval_episodes=1", *SMOKE_SETTINGS["bipedal-walker"]]]
    completed = subprocess.run(
        [sys.executable, str(TASKS / "bipedal-walker" / "baselines" / "human.py")]
        + ["--out", str(out), "--total-steps", "300", "--seed", "3", *settings],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    info = json.loads((out / "training.json").read_text())
    assert info["algorithm"] == "ARS" and info["config"]["seed"] == 3
    assert info["config"]["directions"] == 2 and info["env_steps"] >= 300
    result = grade("bipedal-walker", out, episodes=1)
    assert result["valid"], result["reason"]
