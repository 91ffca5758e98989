"""task.toml loading and validation: every shipped task loads; bad files say file, field, fix."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from mlab_hpc.errors import TaskSpecError, UnknownNameError
from mlab_hpc.normalize import Normalizer, NormalizeSyntaxError
from mlab_hpc.taskspec import all_tasks, get_task, load_task, task_ids

from .conftest import REPO

CORE_TASKS = {"cartpole", "vectorization", "house-price"}


def test_every_shipped_task_loads() -> None:
    ids = task_ids()
    assert set(ids) >= CORE_TASKS
    for task in all_tasks():
        assert task.env_dir.is_dir() and task.eval_script.is_file()
        assert task.research_problem
        assert task.limits.max_steps > 0
        # the anchors normalise to finite numbers where they are numbers
        for anchor in (task.human_relative.naive, task.human_relative.human):
            if isinstance(anchor, float):
                assert math.isfinite(task.human_relative.normalize(anchor))


def test_published_limits_and_anchors() -> None:
    cart = get_task("cartpole")
    assert (cart.limits.max_steps, cart.limits.max_time_s, cart.limits.action_timeout_s) == (
        30,
        1800,
        360,
    )
    assert cart.human_relative.normalize(250.0) == 0.5
    house = get_task("house-price")
    assert house.metric.name == "mae" and house.metric.direction == "lower"
    assert house.human_relative.metric == "rmse_log"
    assert house.human_relative.naive == "starter"  # not HR-MLAB's 31.42506: docs/anchors.md
    assert house.human_relative.human == 0.0
    assert house.data.source == "kaggle"


def test_unknown_task_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError) as err:
        get_task("cartpol")
    assert "Did you mean 'cartpole'" in str(err.value)


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "cartpole"
    shutil.copytree(REPO / "tasks" / "cartpole", folder)
    toml = folder / "task.toml"
    text = toml.read_text()
    assert old in text, f"fixture text {old!r} not in task.toml"
    toml.write_text(text.replace(old, new, 1))
    return toml


@pytest.mark.parametrize(
    ("old", "new", "field", "fix_words"),
    [
        ('deliverable = "policy"', 'deliverable = "weights"', "deliverable", "one of"),
        ("max_steps = 30", "max_steps = -3", "limits.max_steps", "positive"),
        ("max_steps = 30", 'max_steps = "thirty"', "limits.max_steps", "integer"),
        ('direction = "higher"', 'direction = "up"', "metric.direction", "higher, lower"),
        (
            'normalize = "s / 500"',
            'normalize = "__import__(1)"',
            "human_relative.normalize",
            "functions allowed",
        ),
        ('id = "cartpole"', 'id = "cart"', "id", "folder"),
        ('id = "cartpole"', 'id = "cartpole"\ncolour = "red"', "colour", "unknown field"),
    ],
)
def test_bad_field_names_file_field_and_fix(
    tmp_path: Path, old: str, new: str, field: str, fix_words: str
) -> None:
    toml = _broken_copy(tmp_path, old, new)
    with pytest.raises(TaskSpecError) as err:
        load_task(toml)
    message = str(err.value)
    assert str(toml) in message
    assert f"field '{field}'" in message
    assert fix_words in message


def test_missing_field_and_bad_toml(tmp_path: Path) -> None:
    toml = _broken_copy(tmp_path, "[limits]", "[limit]")
    with pytest.raises(TaskSpecError, match="field 'limit': unknown field. Did you mean 'limits'"):
        load_task(toml)
    text = toml.read_text().replace("[limit]", "[limits]")
    toml.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("max_time_s")))
    with pytest.raises(TaskSpecError, match="field 'limits.max_time_s': is missing"):
        load_task(toml)
    toml.write_text("id = [unclosed")
    with pytest.raises(TaskSpecError, match="not valid TOML"):
        load_task(toml)


def test_missing_grader_is_named(tmp_path: Path) -> None:
    toml = _broken_copy(tmp_path, "[limits]", "[limits]")
    (toml.parent / "scripts" / "eval.py").unlink()
    with pytest.raises(TaskSpecError, match="has no grader"):
        load_task(toml)


@pytest.mark.parametrize(
    ("expr", "s", "expected"),
    [
        ("s / 500", 250, 0.5),
        ("1 / (1 + s)", 1, 0.5),
        ("(100 - s) / 100", 60, 0.4),
        ("(clip(s, -150, 0) + 150) / 150", -300, 0.0),
        ("(clip(s, -150, 0) + 150) / 150", 30, 1.0),
        ("(s + 279.3) / (330.0 + 279.3)", 330.0, 1.0),
        ("max(s, 0) - -1", -5, 1.0),
    ],
)
def test_normalize(expr: str, s: float, expected: float) -> None:
    assert Normalizer(expr)(s) == pytest.approx(expected)


@pytest.mark.parametrize("expr", ["x + 1", "s ** 2", "open('f')", "s if s else 1", "'a'", "s.real"])
def test_normalize_rejects(expr: str) -> None:
    with pytest.raises(NormalizeSyntaxError):
        Normalizer(expr)


def test_normalize_undefined_is_nan() -> None:
    assert math.isnan(Normalizer("1 / (1 + s)")(-1))


def test_task_groups_select_the_published_lists() -> None:
    from mlab_hpc.errors import UnknownNameError
    from mlab_hpc.taskspec import select_tasks

    ids = lambda text: [t.id for t in select_tasks(text)]  # noqa: E731
    assert len(ids("mlab")) == 13 and "vectorization" in ids("mlab")
    assert len(ids("hr-mlab")) == 15 and {"pong", "cifar10"} <= set(ids("hr-mlab"))
    assert set(ids("rl")) == {
        "ant", "bipedal-walker", "cartpole", "humanoid", "inverted-pendulum", "pong", "pusher"
    }  # fmt: skip
    mlrb = ids("mlrb")  # both forms of each task; babylm and clrs are MLAgentBench's
    assert "llm-efficiency" in mlrb and "mini-llm-efficiency" in mlrb
    assert "babylm" not in mlrb and "clrs" not in mlrb
    assert ids("mlrb-mini") == [t for t in mlrb if t.startswith("mini-")]
    assert ids("mlrb-full") == [t for t in mlrb if not t.startswith("mini-")]
    assert {get_task(t).resources.gpus for t in mlrb} == {1}
    assert ids("cartpole,rl")[0] == "cartpole" and len(ids("cartpole,rl")) == 7  # each once
    assert set(ids("all")) == set(ids("mlab")) | set(ids("hr-mlab")) | set(mlrb)
    with pytest.raises(UnknownNameError, match="Did you mean 'mlrb'"):
        select_tasks("mlrbb")
