"""What reaches a job's environment: an allow-list, and API keys only where a run needs them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from submitit.slurm.slurm import _make_sbatch_string

from mlab_hpc.cli import main
from mlab_hpc.launch.campaign import plan
from mlab_hpc.launch.jobs import JobSettings
from mlab_hpc.launch.profiles import load_profile
from mlab_hpc.launch.submit import group_arrays, job_environment, sbatch_parameters
from mlab_hpc.runrecord import RunOptions
from mlab_hpc.taskspec import get_task

from .conftest import REPO

SHELL = {
    "PATH": "/usr/bin",
    "HOME": "/home/me",
    "MLAB_RESULTS": "/scratch/r",
    "LC_ALL": "C.UTF-8",
    "SLURM_CONF": "/etc/slurm/slurm.conf",
    "OPENAI_API_KEY": "sk-openai",
    "ANTHROPIC_API_KEY": "sk-anthropic",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "GITHUB_TOKEN": "gh",
    "EDITOR": "vim",
}


def arrays_for(models: list[str | None], settings: JobSettings) -> list:
    runs = plan("env", [get_task("cartpole")], [0], ["baseline"], models, None)
    profile = load_profile(REPO / "slurm" / "profiles" / "dev.toml")
    return group_arrays(runs, profile, settings)


def test_baseline_runs_carry_no_api_key() -> None:
    settings = JobSettings(results="/r", data_root="/d")
    (array,) = arrays_for([None], settings)
    names = job_environment(array, settings, SHELL)
    assert names == ["HOME", "LC_ALL", "MLAB_RESULTS", "PATH", "SLURM_CONF"]


def test_a_provider_key_goes_only_with_runs_of_that_provider() -> None:
    settings = JobSettings(results="/r", data_root="/d")
    (array,) = arrays_for(["openai:gpt-4o"], settings)
    names = job_environment(array, settings, SHELL)
    assert "OPENAI_API_KEY" in names and "ANTHROPIC_API_KEY" not in names
    assert not {"AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "EDITOR"} & set(names)
    # the campaign's fast model counts too
    mixed = JobSettings(
        results="/r", data_root="/d", options=RunOptions(fast_llm="anthropic:claude-x")
    )
    (array,) = arrays_for(["openai:gpt-4o"], mixed)
    assert {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"} <= set(job_environment(array, mixed, SHELL))


def test_the_sbatch_script_exports_the_list(tmp_path: Path) -> None:
    settings = JobSettings(results="/r", data_root="/d")
    (array,) = arrays_for([None], settings)
    profile = load_profile(REPO / "slurm" / "profiles" / "dev.toml")
    text = _make_sbatch_string(
        command="python -u -m submitit.core._submit /c/%j",
        folder="/c/%j",
        map_count=1,
        **sbatch_parameters(array, profile, SHELL, settings),
    )
    assert "#SBATCH --export=HOME,LC_ALL,MLAB_RESULTS,PATH,SLURM_CONF\n" in text
    assert "sk-" not in text
    # the step forwards what the batch script set (SUBMITIT_EXECUTOR, the profile's setup)
    assert "srun --unbuffered" in text and "--export=ALL" in text.split("srun --unbuffered")[1]


@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_a_baseline_job_on_slurm_gets_no_api_key(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real job: the harness's own environment holds the allow-list, not the shell's keys."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the job imports tests.agents_for_tests
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-this-job")
    monkeypatch.setenv("SOME_UNRELATED_SECRET", "x")
    monkeypatch.setenv("MLAB_MARKER", "1")
    result = CliRunner().invoke(
        main,
        [
            "submit", "--tasks", "cartpole", "--seeds", "1", "--campaign", "envtest",
            "--agent", "tests.agents_for_tests:EnvironmentReportingAgent", "--executor", "slurm",
            "--profile", str(REPO / "slurm" / "profiles" / "dev.toml"),
        ],  # fmt: skip
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    deadline = time.monotonic() + 240
    found: list[Path] = []
    while time.monotonic() < deadline and not found:
        found = list(results.glob("runs/*/workspace/env_names.txt"))
        time.sleep(1)
    assert found, "the job never wrote its environment"
    names = set(found[0].read_text().split())
    assert {"MLAB_MARKER", "PATH", "SUBMITIT_EXECUTOR"} <= names
    assert "OPENAI_API_KEY" not in names and "SOME_UNRELATED_SECRET" not in names
