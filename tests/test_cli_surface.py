"""The command line's conventions, as a script or a person meets them: where the roots may be
given, what goes to stdout and what to stderr, exit codes, and numbers written for people."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlab_hpc.cli import main


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit code, stdout, stderr) kept apart."""
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def child_env(tmp: Path) -> dict[str, str]:
    """A child's environment without MLAB_RESULTS / MLAB_DATA: the defaults apply in ``tmp``."""
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(tmp)}
    if "PYTHONPATH" in os.environ:  # a checkout other than the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def mlab(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in a child process started in ``tmp``."""
    return subprocess.run(
        [sys.executable, "-m", "mlab_hpc", *args],
        cwd=tmp,
        env=child_env(tmp),
        capture_output=True,
        text=True,
        timeout=600,
    )


def every_leaf_command() -> list[tuple[str, ...]]:
    import click

    found: list[tuple[str, ...]] = []

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, (*prefix, name))
            else:
                found.append((*prefix, name))

    walk(main, ())
    return found


@pytest.mark.parametrize("command", every_leaf_command(), ids=" ".join)
def test_every_command_takes_the_roots_after_its_name(command: tuple[str, ...]) -> None:
    code, out, _ = cli(*command, "--help")
    assert code == 0
    assert "--results PATH" in out and "--data-root PATH" in out, out


def test_a_root_given_after_the_command_wins_over_the_group_option_and_the_env(
    tmp_path: Path,
) -> None:
    given = tmp_path / "after"
    env = {"MLAB_RESULTS": str(tmp_path / "env")}
    code, out, err = cli(
        "--results", str(tmp_path / "before"), "recover", "--all", "--results", str(given), env=env
    )
    assert code == 0, err
    assert f"nothing to recover in {given.resolve()}" in err
    # the error hints name options the command accepts, in the position they suggest
    code, _, err = cli("status", "--results", str(given))
    assert code == 1 and str(given.resolve()) in err


def test_recover_all_with_nothing_to_do_is_not_an_error(tmp_path: Path) -> None:
    code, out, err = cli("recover", "--all", "--results", str(tmp_path))
    assert code == 0
    assert out == "" and "nothing to recover" in err
    code, _, err = cli("recover", "--results", str(tmp_path))
    assert code == 2 and "give run ids or --all" in err


def test_usage_errors_exit_2_and_other_errors_exit_1(tmp_path: Path) -> None:
    code, _, err = cli("run", "--task", "house-prices", "--results", str(tmp_path))
    assert code == 2 and "Did you mean 'house-price'" in err
    code, _, err = cli("run", "--task", "cartpole", "--max-steps", "0")
    assert code == 2 and "--max-steps must be a finite positive int, got 0" in err
    code, _, err = cli("status", "--results", str(tmp_path))  # a fact of the results, not usage
    assert code == 1 and "no campaign" in err


def test_sql_and_report_name_their_output_file_alike(tmp_path: Path) -> None:
    code, out, _ = cli("sql", "--help")
    assert "--out, --output FILE" in out
    target = tmp_path / "one.csv"
    code, out, err = cli(
        "sql", "--results", str(tmp_path), "--format", "csv", "--out", str(target), "SELECT 1 AS x"
    )
    assert code == 0, err
    assert target.read_text().splitlines() == ["x", "1"]
    assert out == "" and f"written to {target}" in err


@pytest.fixture(scope="module")
def one_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """One short cartpole run, its stdout and stderr captured apart."""
    tmp = tmp_path_factory.mktemp("run")
    done = mlab(tmp, "run", "--task", "cartpole", "--max-steps", "2", "--smoke", "--json")
    assert done.returncode == 0, done.stderr
    return tmp, done


def test_run_prints_its_outcome_on_stdout_and_its_progress_on_stderr(
    one_run: tuple[Path, subprocess.CompletedProcess],
) -> None:
    _, done = one_run
    row = json.loads(done.stdout)
    assert row["task"] == "cartpole" and row["status"] == "completed"
    assert row["final_score"] == pytest.approx(row["best_score"])
    assert "step   1/2" in done.stderr and "grading" in done.stderr
    assert "{" not in done.stderr.split("grading")[-1]  # the data went to stdout only


def test_the_run_summary_is_for_people(tmp_path: Path) -> None:
    done = mlab(tmp_path, "run", "--task", "cartpole", "--max-steps", "2", "--smoke")
    assert done.returncode == 0, done.stderr
    assert "final score" in done.stdout and "step   1/2" in done.stderr
    assert "mean of 1 baseline run)" in done.stdout  # not "1 runs"
    wall = next(ln for ln in done.stdout.splitlines() if "wall time" in ln).split()[-2]
    assert len(wall.replace(".", "").lstrip("0")) <= 3, wall  # rounded, not 0.2827...


def test_a_reader_closing_the_pipe_early_does_not_break_the_run(tmp_path: Path) -> None:
    """`mlab-hpc run ... | head -1`: the run is graded and tabled; no traceback, no leftover."""
    command = (
        f"{sys.executable} -m mlab_hpc run --task cartpole --max-steps 2 --smoke | head -1; "
        "exit ${PIPESTATUS[0]}"
    )
    done = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, env=child_env(tmp_path), capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 0
    (run_dir,) = (tmp_path / "results" / "runs").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "graded"
    code, out, _ = cli("sql", "--results", str(tmp_path / "results"), "--format", "csv",
                       "SELECT count(*) AS n FROM runs")  # fmt: skip
    assert out.splitlines() == ["n", "1"]


def test_the_cli_modules_import_only_base_and_the_library() -> None:
    """No import circle: a command module imports ``.base`` and the library, never a sibling
    or the package itself (whose __init__ imports every command module)."""
    import ast

    import mlab_hpc.cli

    folder = Path(mlab_hpc.cli.__file__).parent
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert node.module == "base", f"{path.name} imports .{node.module or ''}"
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                assert node.module != "cli", f"{path.name} imports the cli package"


@pytest.fixture(scope="module")
def debug_campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-run cartpole campaign run by submitit's debug executor, in a results root."""
    results = tmp_path_factory.mktemp("campaign") / "results"
    code, out, err = cli(
        "submit", "--tasks", "cartpole", "--campaign", "c1", "--executor", "debug",
        "--max-steps", "2", "--smoke", "--results", str(results),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("campaign c1: 1 run planned, 0 already done")  # the plan: stdout
    return results


def test_status_writes_its_table_or_json_to_stdout(debug_campaign: Path) -> None:
    code, out, err = cli("status", "--results", str(debug_campaign))
    assert code == 0, err
    assert out.splitlines()[0] == "campaign c1: 1 run"
    assert "cartpole" in out and "1 completed" in out
    code, out, err = cli("status", "--json", "--results", str(debug_campaign))
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["campaign"] == "c1" and row["task"] == "cartpole"
    assert row["status"] == "completed" and isinstance(row["final_score"], float)


def test_an_unknown_campaign_is_a_usage_error_for_status_and_cancel(debug_campaign: Path) -> None:
    for command in ("status", "cancel"):
        code, out, err = cli(command, "--campaign", "c2", "--results", str(debug_campaign))
        assert code == 2, (command, err)
        assert "unknown campaign 'c2'" in err and "Did you mean 'c1'" in err, err
        assert out == ""


def test_a_local_campaign_leaves_no_literal_percent_j_folder(tmp_path: Path) -> None:
    results = tmp_path / "results"
    code, out, err = cli(
        "submit", "--tasks", "cartpole", "--campaign", "loc", "--executor", "local",
        "--max-steps", "2", "--smoke", "--results", str(results),
    )  # fmt: skip
    assert code == 0, err
    folders = [p.name for p in (results / "campaigns" / "loc" / "submitit").iterdir()]
    assert folders and "%j" not in folders, folders
