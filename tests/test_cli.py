"""The command line as a user meets it: listings, one-line errors, the README's promises."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from mlab_hpc.cli import main

from .conftest import REPO


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_tasks_list_json_has_what_a_user_compares() -> None:
    code, out = invoke("tasks", "list", "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    assert {"cartpole", "vectorization", "house-price"} <= set(rows)
    assert rows["cartpole"]["metric"] == "mean_return"
    assert rows["cartpole"]["direction"] == "higher"
    assert rows["house-price"]["direction"] == "lower"
    assert rows["house-price"]["data_source"] == "kaggle"
    assert all(rows[t]["gpus"] == 0 for t in ("cartpole", "vectorization", "house-price"))


def test_tasks_show() -> None:
    code, out = invoke("tasks", "show", "house-price")
    assert code == 0
    assert "mae (lower is better)" in out and "Research problem:" in out


def test_unknown_task_is_one_line_with_a_suggestion() -> None:
    code, out = invoke("run", "--task", "house-prices")
    assert code == 2  # a usage error
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in out
    assert "Did you mean 'house-price'" in lines[0]


def test_unknown_agent_suggests() -> None:
    code, out = invoke("run", "--task", "cartpole", "--agent", "baselin")
    assert code == 2
    assert "unknown agent 'baselin'. Did you mean 'baseline'" in out


def test_help_explains_every_command() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in ("run", "recover", "tasks", "prepare"):
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), command


def test_readme_commands_are_the_ones_ci_runs() -> None:
    readme = (REPO / "README.md").read_text().splitlines()
    commands = [ln.strip() for ln in readme[:6] if ln.startswith("    ")]
    assert commands[0] == (
        "pip install -e . && mlab-hpc submit --tasks cartpole,vectorization,house-price "
        "--seeds 2 --data generated && mlab-hpc report --data all"
    )
    assert commands[1] == "bash .ci/run"
    assert "pip install -e '.[dev]' && python -m pytest -q" in (REPO / ".ci" / "run").read_text()
