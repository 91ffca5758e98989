"""The typed run record: run.json read and written through RunState only, options shared by
`run` and `submit` through one dataclass and one decorator."""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlab_hpc.cli import main
from mlab_hpc.errors import PrerequisiteError
from mlab_hpc.paths import ResultsRoot
from mlab_hpc.runrecord import RunConfig, RunOptions, RunRecordError, RunState

from .conftest import REPO

SCHEMA1 = REPO / "tests" / "golden" / "run_json_schema1.json"


def run_paths(tmp_path: Path, source: Path = SCHEMA1):  # type: ignore[no-untyped-def]
    paths = ResultsRoot(tmp_path).run("r1")
    paths.dir.mkdir(parents=True)
    shutil.copy(source, paths.state)
    return paths


def test_a_schema_1_run_json_is_read_typed_and_nothing_is_lost(tmp_path: Path) -> None:
    paths = run_paths(tmp_path)
    state = RunState.load(paths)

    assert state.status == "unrecoverable" and state.exit_reason == "agent_error"
    assert state.config.options.max_steps == 1 and state.config.options.smoke is True
    assert state.config.task == "cartpole" and state.limits and state.limits.max_steps == 1
    assert state.error is not None
    assert state.error.message == "ZeroDivisionError: division by zero"
    assert state.error.detail and state.error.detail.startswith("Traceback")
    assert state.unrecoverable_reason == "ValueError: bad line"
    assert state.attempts[0].requested_cpus == 2 and state.attempts[0].node == "vm"

    state.save(paths)
    again = json.loads(paths.state.read_text())
    assert again["schema_version"] == 2
    assert again["config"]["options"]["max_steps"] == 1 and "max_steps" not in again["config"]
    assert again["attempts"][0]["a_future_field"] == "kept"  # a newer harness's field survives
    assert RunState.load(paths) == state


def test_a_foreign_run_json_is_refused_with_its_path_and_a_newer_ones_facts_kept(
    tmp_path: Path,
) -> None:
    data = json.loads(SCHEMA1.read_text())
    data["grader_gpu_hours"] = 1.5  # a fact a newer harness records
    source = tmp_path / "newer.json"
    source.write_text(json.dumps(data))
    paths = run_paths(tmp_path, source)
    state = RunState.load(paths)
    state.save(paths)
    assert json.loads(paths.state.read_text())["grader_gpu_hours"] == 1.5
    for change, message in [
        ({"status": "finished"}, "unknown status 'finished'"),
        ({"config": {**data["config"], "max_step": 3}}, r"unknown config field\(s\) max_step"),
    ]:
        paths.state.write_text(json.dumps({**data, **change}))
        with pytest.raises(RunRecordError, match=message) as refused:
            RunState.load(paths)
        assert isinstance(refused.value, ValueError)  # scans over many runs skip it
    del data["status"]
    paths.state.write_text(json.dumps(data))
    with pytest.raises(RunRecordError, match=r"run\.json: no 'status'"):
        RunState.load(paths)


def test_a_resubmission_never_discards_a_run_it_cannot_read(tmp_path: Path) -> None:
    """A corrupt run.json is restarted; another version's record is an error, not a restart."""
    from mlab_hpc.launch.campaign import relaunch, run_state

    results = ResultsRoot(tmp_path)
    paths = run_paths(tmp_path)
    paths.state.write_text("{broken")
    assert relaunch(run_state(results, "r1")) == "restart"
    data = json.loads(SCHEMA1.read_text())
    data["config"]["new_option"] = 1
    paths.state.write_text(json.dumps(data))
    with pytest.raises(RunRecordError, match="new_option"):
        run_state(results, "r1")


@pytest.mark.parametrize(
    "changes",
    [
        {"max_time_s": math.nan},
        {"max_steps": 0},
        {"action_timeout_s": -1.0},
        {"temperature": 3.0},
        {"max_cost": 0.0},
    ],
)
def test_options_are_validated_once_on_construction(changes: dict) -> None:
    with pytest.raises(PrerequisiteError):
        RunOptions(**changes)


def test_the_config_is_frozen() -> None:
    config = RunConfig(task="cartpole")
    with pytest.raises(AttributeError):
        config.task = "pong"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.options.max_steps = 3  # type: ignore[misc]


@pytest.mark.parametrize("command", ["run", "submit"])
def test_run_and_submit_take_every_run_option_from_the_one_dataclass(command: str) -> None:
    """Adding a field to RunOptions is all it takes for both commands to accept it."""
    out = CliRunner().invoke(main, [command, "--help"]).output
    for f in fields(RunOptions):
        (decls, _) = f.metadata["cli"]
        assert re.search(rf"{re.escape(decls[0])}\b", out), (command, decls[0])


def test_a_run_stores_the_options_it_was_given(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = CliRunner().invoke(
        main,
        ["run", "--task", "cartpole", "--results", str(results), "--max-steps", "2", "--smoke",
         "--temperature", "0.3", "--json"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    (run_dir,) = (results / "runs").iterdir()
    state = RunState.load(ResultsRoot(results).run(run_dir.name))
    assert state.status == "graded" and state.exit_reason == "final_answer"
    assert state.config.options == RunOptions(
        max_steps=2, smoke=True, temperature=0.3, sandbox=state.config.options.sandbox
    )
    assert state.attempts and state.attempts[0].ended_at is not None


def test_a_table_writer_refuses_a_column_its_schema_lacks(tmp_path: Path) -> None:
    from mlab_hpc.tables import write_table

    with pytest.raises(ValueError, match="runs table: column\\(s\\) finel_score not in its schema"):
        write_table(tmp_path / "r.parquet", "runs", [{"run_id": "r", "finel_score": 1.0}])
    assert not list(tmp_path.iterdir())  # nothing half written
    assert write_table(tmp_path / "r.parquet", "runs", [{"run_id": "r", "final_score": 1.0}]) == 1


def test_every_exit_reason_has_a_status_and_no_other() -> None:
    from mlab_hpc.runner import STATUS_OF_EXIT
    from mlab_hpc.runrecord import EXIT_REASONS

    assert set(STATUS_OF_EXIT) == set(EXIT_REASONS)
