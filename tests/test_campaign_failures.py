"""Infrastructure endings on the real dev cluster: a node that fails under a running job, a job
that runs out of memory. Each run is graded by a grading job (never by `status`), shows as
what Slurm did to it, and a resubmission resumes it as one more attempt (docs/slurm.md)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlab_hpc.agents import AgentContext
from mlab_hpc.cli import main
from mlab_hpc.environment import ActionCall, StepRecord
from mlab_hpc.launch.campaign import CampaignPaths
from mlab_hpc.launch.status import campaign_status, reconcile
from mlab_hpc.paths import ResultsRoot
from mlab_hpc.runrecord import RunState

from .agents_for_tests import ScriptedAgent
from .conftest import REPO
from .test_campaign import (  # noqa: F401  (gpu_tasks: a fixture)
    DEV_PROFILE,
    arrays_sent,
    gpu_tasks,
    grading_records,
    runs_rows,
    wait_for,
)

ME = "tests.test_campaign_failures"


class HogAgent(ScriptedAgent):
    """Writes a file, then, on its first attempt only, fills memory in the harness process
    itself (MLAB_TEST_HOG_GB, past the job's --mem): the whole job step dies of it, as a
    harness that runs out of memory would. A resumed attempt goes on to its final answer."""

    script = [
        ActionCall("Write File", {"file_name": "notes.txt", "content": "before"}),
        ActionCall("Write File", {"file_name": "after.txt", "content": "after"}),
    ]

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        self.resumed = bool(history)
        super().begin(ctx, history)

    def act(self, last: StepRecord | None) -> ActionCall:
        import os

        if last is not None and not self.resumed:
            chunks = []
            for _ in range(int(float(os.environ.get("MLAB_TEST_HOG_GB", "4")) * 16)):
                chunks.append(b"\x01" * (64 << 20))  # written pages: resident memory
            time.sleep(60)  # killed before: by the OOM killer, or by Slurm's next sample
        return super().act(last)


def node_name() -> str:
    return subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True, check=True
    ).stdout.split()[0]


def set_node(state: str, reason: str = "") -> None:
    args = ["scontrol", "update", f"nodename={node_name()}", f"state={state}"]
    subprocess.run(args + ([f"reason={reason}"] if reason else []), capture_output=True)


def wait_node_up(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True
        ).stdout.strip()
        if state.startswith(("idle", "mix", "alloc")):
            return
        set_node("resume")  # ReturnToService=2 usually brings it back on its own first
        assert time.monotonic() < deadline, f"the node stays {state!r}"
        time.sleep(1)


def sacct_states(job_id: str) -> dict[str, str]:
    out = subprocess.run(
        ["sacct", "-n", "-P", "-o", "JobID,State", "-j", job_id.split("_")[0]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


def submit(*args: str) -> str:
    result = CliRunner().invoke(main, ["submit", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def wait_for_sleeping_step(run_dir: Path, timeout: float = 120) -> None:
    """Until ResumableAgent's run is in its sleeping step (step 3 in flight)."""
    deadline = time.monotonic() + timeout
    while not (run_dir / "workspace" / "partial.txt").exists():
        assert time.monotonic() < deadline, "the run never reached its sleeping step"
        time.sleep(0.5)


def wait_until(paths: CampaignPaths, status: str, timeout: float = 180) -> None:
    """Until `status` (read only) says ``status`` for the campaign's only run."""
    deadline = time.monotonic() + timeout
    while (row := campaign_status(paths)[0]).status != status:
        assert time.monotonic() < deadline, row
        time.sleep(1)


def check_graded_by_its_grading_job(results: Path, campaign: str, run_id: str) -> None:
    """The run names the grading job that graded it; returns once that job has left the queue
    (it writes the grade, then still shows RUNNING or COMPLETING for a moment, and a run whose
    grading job is live is not relaunched)."""
    (grade,) = grading_records(results, campaign)
    state = RunState.load(ResultsRoot(results).run(run_id))
    job = grade["job_ids"][0]
    assert state.grading_job and state.grading_job["slurm_job_id"] == job
    deadline = time.monotonic() + 120
    while sacct_states(job).get(job) in (None, "PENDING", "RUNNING", "COMPLETING"):
        assert time.monotonic() < deadline, sacct_states(job)
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_node_failure_ends_the_run_as_node_fail_and_a_resubmission_resumes_it(
    results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("MLAB_TEST_SLEEP_S", "60")
    # a site where Slurm does not requeue jobs of failed nodes (JobRequeue=0, or --no-requeue):
    # the job ends NODE_FAIL and the run waits for a resubmission
    profile = tmp_path / "norequeue.toml"
    profile.write_text(DEV_PROFILE.read_text() + "\n[sbatch]\nrequeue = false\n")
    args = ("--tasks", "cartpole", "--agent", "tests.agents_for_tests:ResumableAgent")
    submit(*args, "--campaign", "nf", "--profile", str(profile))
    (array,) = arrays_sent(results, "nf")
    job_id, run_id = array["job_ids"][0], array["run_ids"][0]
    run_dir = results / "runs" / run_id
    wait_for_sleeping_step(run_dir)
    set_node("down", "mlab-test-node-failure")
    try:
        paths = CampaignPaths(ResultsRoot(results), "nf")
        wait_until(paths, "to grade")
        assert sacct_states(job_id)[job_id] == "NODE_FAIL"
    finally:
        wait_node_up()
    (row,) = wait_for(results, "nf", timeout=180)
    assert (row.status, row.exit_reason) == ("node_fail", "node_fail"), row
    check_graded_by_its_grading_job(results, "nf", run_id)
    (table,) = runs_rows(results)
    assert (table["exit_reason"], table["n_steps"], table["attempts"]) == ("node_fail", 2, 1)

    out = submit(*args, "--campaign", "nf", "--profile", str(DEV_PROFILE))
    assert "0 already done, 0 still queued or running, 1 to launch" in out, out
    (row,) = wait_for(results, "nf", timeout=180)
    assert row.status == "completed", row
    (table,) = runs_rows(results)
    attempts = json.loads(table["attempts_json"])
    assert table["attempts"] == 2 and [a["from_step"] for a in attempts] == [0, 2]
    assert table["n_steps"] == 5  # the step the node failure cut is run again, once


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_node_failure_with_requeue_resumes_the_run_in_the_requeued_job(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("MLAB_TEST_SLEEP_S", "60")
    submit(
        "--tasks",
        "cartpole",
        "--agent",
        "tests.agents_for_tests:ResumableAgent",
        "--campaign",
        "nfq",
        "--profile",
        str(DEV_PROFILE),
    )
    (array,) = arrays_sent(results, "nfq")
    job_id, run_id = array["job_ids"][0], array["run_ids"][0]
    run_dir = results / "runs" / run_id
    wait_for_sleeping_step(run_dir)
    set_node("down", "mlab-test-node-failure")
    try:
        paths = CampaignPaths(ResultsRoot(results), "nfq")
        deadline = time.monotonic() + 60
        while campaign_status(paths)[0].status not in ("pending", "requeued"):
            assert time.monotonic() < deadline, campaign_status(paths)
            time.sleep(1)
    finally:
        wait_node_up()
    # Slurm requeued the job itself (sbatch --requeue, the default): the requeued job resumes
    # the run after its last completed step, as attempt 2; no grading job, no resubmission
    (row,) = wait_for(results, "nfq", timeout=400)
    assert row.status == "completed", row
    assert not grading_records(results, "nfq")
    (table,) = runs_rows(results)
    attempts = json.loads(table["attempts_json"])
    assert table["attempts"] == 2 and [a["from_step"] for a in attempts] == [0, 2]
    assert table["slurm_job_id"] == job_id


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_out_of_memory_ends_the_run_as_out_of_memory_and_a_resubmission_resumes_it(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("MLAB_TEST_HOG_GB", "4")  # cartpole's jobs ask for 2 GB
    args = ("--tasks", "cartpole", "--agent", f"{ME}:HogAgent", "--campaign", "oom")
    submit(*args, "--profile", str(DEV_PROFILE))
    (array,) = arrays_sent(results, "oom")
    job_id, run_id = array["job_ids"][0], array["run_ids"][0]
    assert array["envelope"]["requested_mem_gb"] == 2.0
    paths = CampaignPaths(ResultsRoot(results), "oom")
    wait_until(paths, "to grade")
    steps = sacct_states(job_id)
    assert "OUT_OF_MEMORY" in steps.values() or steps[job_id] == "FAILED", steps
    (row,) = wait_for(results, "oom", timeout=180)
    assert (row.status, row.exit_reason) == ("out_of_memory", "out_of_memory"), (row, steps)
    check_graded_by_its_grading_job(results, "oom", run_id)
    (table,) = runs_rows(results)
    assert (table["n_steps"], table["attempts"]) == (1, 1)

    out = submit(*args, "--profile", str(DEV_PROFILE))
    assert "0 already done, 0 still queued or running, 1 to launch" in out, out
    (row,) = wait_for(results, "oom", timeout=180)
    assert row.status == "completed", row
    (table,) = runs_rows(results)
    assert table["attempts"] == 2 and table["n_steps"] == 3
    assert [a["from_step"] for a in json.loads(table["attempts_json"])] == [0, 1]


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root", "gpu_tasks")
def test_a_cancelled_gpu_run_is_graded_on_a_gpu_node(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("MLAB_TEST_SLEEP_S", "600")
    submit(
        "--tasks",
        "cartpole-gpu",
        "--agent",
        "tests.agents_for_tests:ResumableAgent",
        "--campaign",
        "gpugrade",
        "--profile",
        str(DEV_PROFILE),
    )
    (array,) = arrays_sent(results, "gpugrade")
    run_id = array["run_ids"][0]
    wait_for_sleeping_step(results / "runs" / run_id)
    result = CliRunner().invoke(main, ["cancel", "--campaign", "gpugrade"])
    assert result.exit_code == 0 and "cancelled 1 job(s)" in result.output, result.output
    (row,) = wait_for(results, "gpugrade", timeout=180)
    assert (row.status, row.exit_reason) == ("cancelled", "cancelled"), row
    (grade,) = grading_records(results, "gpugrade")
    assert grade["resource_class"] == "gpu" and grade["envelope"]["requested_gpus"] == 1
    check_graded_by_its_grading_job(results, "gpugrade", run_id)
    state = json.loads((results / "runs" / run_id / "run.json").read_text())
    assert (state["grading_job"]["partition"], state["grading_job"]["gpus_visible"]) == (
        "gpu",
        "0",
    )


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_a_run_whose_grading_job_died_is_ungraded_until_a_resubmission_finishes_it(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("MLAB_TEST_SLEEP_S", "20")
    args = ("--tasks", "cartpole", "--agent", "tests.agents_for_tests:ResumableAgent")
    submit(*args, "--campaign", "ug")
    (array,) = arrays_sent(results, "ug")
    job_id, run_id = array["job_ids"][0], array["run_ids"][0]
    wait_for_sleeping_step(results / "runs" / run_id)
    subprocess.run(["scancel", job_id], check=True)
    paths = CampaignPaths(ResultsRoot(results), "ug")
    wait_until(paths, "to grade")
    set_node("drain", "mlab-test-grading-job-held")  # the grading job cannot start...
    try:
        (row,) = reconcile(paths, notify=[].append)
        assert row.status == "grading", row
        (grade,) = grading_records(results, "ug")
        grade_job = grade["job_ids"][0]
        subprocess.run(["scancel", grade_job], check=True)  # ...and ends without grading
        wait_until(paths, "ungraded")
    finally:
        set_node("resume")
        wait_node_up()
    (row,) = campaign_status(paths)
    assert (row.grading_job, row.exit_reason) == (grade_job, "cancelled"), row
    # status says so, and sends no second grading job for the same ending
    shown = CliRunner().invoke(main, ["status", "--campaign", "ug", "--runs"])
    assert shown.exit_code == 0 and "ungraded" in shown.output, shown.output
    assert len(grading_records(results, "ug")) == 1 and not runs_rows(results)

    # a resubmission resumes the run (cancelled is an infrastructure ending) to its end
    out = submit(*args, "--campaign", "ug")
    assert "0 already done, 0 still queued or running, 1 to launch" in out, out
    (row,) = wait_for(results, "ug", timeout=180)
    assert row.status == "completed", row
    (table,) = runs_rows(results)
    assert table["attempts"] == 2 and table["n_steps"] == 5
