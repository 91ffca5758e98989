"""Campaigns on a real single-node Slurm cluster (slurm/dev-cluster), through real submitit."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mlab_hpc.cli import main
from mlab_hpc.launch.campaign import CampaignPaths, plan, read_manifest
from mlab_hpc.launch.jobs import JobSettings, discard_run
from mlab_hpc.launch.profiles import load_profile
from mlab_hpc.launch.status import LIVE, campaign_status, reconcile
from mlab_hpc.launch.submit import group_arrays, sbatch_parameters
from mlab_hpc.paths import ResultsRoot
from mlab_hpc.runrecord import RunOptions, RunState
from mlab_hpc.taskspec import get_task

from .conftest import REPO

DEV_PROFILE = REPO / "slurm" / "profiles" / "dev.toml"
GPU_PROFILE = REPO / "slurm" / "profiles" / "example-gpu-cluster.toml"


@pytest.fixture
def gpu_tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tasks root with the real tasks plus 'cartpole-gpu': cartpole asking for one GPU."""
    root = tmp_path / "tasks"
    shutil.copytree(REPO / "tasks", root)
    shutil.copytree(root / "cartpole", root / "cartpole-gpu")
    toml = root / "cartpole-gpu" / "task.toml"
    text = toml.read_text().replace('id = "cartpole"', 'id = "cartpole-gpu"')
    toml.write_text(text.replace("gpus = 0", "gpus = 1"))
    monkeypatch.setenv("MLAB_TASKS", str(root))  # exported to the jobs by sbatch
    assert get_task("cartpole-gpu").resources.gpus == 1
    return root


def submit(*args: str) -> str:
    result = CliRunner().invoke(main, ["submit", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def wait_for(
    results: Path, campaign: str, timeout: float = 240, notes: list[str] | None = None
) -> list:
    """Poll what `status` does (read, and send grading jobs for runs that Slurm ended
    ungraded) until nothing is queued, running, to grade or grading; ``notes`` collects what
    it announced."""
    paths = CampaignPaths(ResultsRoot(results), campaign)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = reconcile(paths, notify=(notes if notes is not None else []).append)
        if rows and all(r.status not in LIVE | {"not submitted", "to grade"} for r in rows):
            return rows
        time.sleep(2)
    raise AssertionError(f"campaign {campaign} still busy: {rows}")


def runs_rows(results: Path) -> list[dict]:
    return [
        pq.read_table(p).to_pylist()[0]
        for p in sorted((results / "tables" / "runs").rglob("*.parquet"))
    ]


def arrays_sent(results: Path, campaign: str) -> list[dict]:
    """The run arrays a campaign sent (not its grading jobs)."""
    log = results / "campaigns" / campaign / "submissions.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return [a for r in records if r.get("kind", "run") == "run" for a in r["arrays"]]


def wait_until_gone(job_ids: list[str], timeout: float = 120) -> None:
    """Until none of `job_ids` is in Slurm's queue any more (pending, running, completing)."""
    deadline = time.monotonic() + timeout
    while job_ids:
        queued = subprocess.run(
            ["squeue", "-h", "-o", "%i", "-j", ",".join(j.split("_")[0] for j in job_ids)],
            capture_output=True,
            text=True,
        ).stdout.split()
        if not queued:
            return
        assert time.monotonic() < deadline, f"still in the queue: {queued}"
        time.sleep(1)


def grading_records(results: Path, campaign: str) -> list[dict]:
    """The grading job arrays a campaign's `status` sent."""
    log = results / "campaigns" / campaign / "submissions.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [a for r in records if r.get("kind") == "grade" for a in r["arrays"]]


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_submit_resubmit_and_resubmit_one(results: Path) -> None:
    out = submit(
        "--tasks",
        "cartpole,house-price",
        "--seeds",
        "2",
        "--data",
        "generated",
        "--campaign",
        "c1",
        "--profile",
        str(DEV_PROFILE),
    )
    assert "4 to launch (slurm executor" in out
    sent = arrays_sent(results, "c1")
    # one sbatch per distinct request: cartpole (2 GB, 35 min) and house-price (4 GB, longer)
    assert [(a["envelope"]["requested_mem_gb"], len(a["run_ids"])) for a in sent] == [
        (2.0, 2),
        (4.0, 2),
    ]
    rows = wait_for(results, "c1")
    assert sorted(r.status for r in rows) == ["completed"] * 4
    table = runs_rows(results)
    assert len(table) == 4
    job_of = {r: j for a in sent for r, j in zip(a["run_ids"], a["job_ids"], strict=True)}
    for row in table:
        assert row["slurm_job_id"] == job_of[row["run_id"]]  # ARRAYID_INDEX, as status shows
        assert row["slurm_array_index"] in (0, 1)
        mem = 2.0 if row["task"] == "cartpole" else 4.0
        assert row["attempts"] == 1 and row["requested_mem_gb"] == mem
        assert json.loads(row["attempts_json"])[0]["slurm_partition"] == "cpu"

    out = submit(
        "--tasks",
        "cartpole,house-price",
        "--seeds",
        "2",
        "--data",
        "generated",
        "--campaign",
        "c1",
        "--profile",
        str(DEV_PROFILE),
    )
    assert "0 to launch" in out and len(arrays_sent(results, "c1")) == 2

    spec = next(
        r
        for r in read_manifest(CampaignPaths(ResultsRoot(results), "c1"))
        if r.task == "house-price" and r.seed == 1
    )
    discard_run(ResultsRoot(results), spec)
    out = submit(
        "--tasks",
        "cartpole,house-price",
        "--seeds",
        "2",
        "--data",
        "generated",
        "--campaign",
        "c1",
        "--profile",
        str(DEV_PROFILE),
    )
    assert "1 to launch" in out
    assert arrays_sent(results, "c1")[-1]["run_ids"] == [spec.run_id]
    wait_for(results, "c1")
    assert len(runs_rows(results)) == 4


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_requeued_run_resumes_without_losing_or_repeating_steps(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the jobs import tests.agents_for_tests
    monkeypatch.setenv("MLAB_TEST_SLEEP_S", "20")
    submit(
        "--tasks",
        "cartpole",
        "--agent",
        "tests.agents_for_tests:ResumableAgent",
        "--campaign",
        "c2",
        "--profile",
        str(DEV_PROFILE),
    )
    (array,) = arrays_sent(results, "c2")
    job_id = array["job_ids"][0]
    run_dir = results / "runs" / array["run_ids"][0]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # step 3 (the sleeping script) is in flight
        if (run_dir / "workspace" / "partial.txt").exists():
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the run never reached its sleeping step")
    # what Slurm sends before a time limit or a preemption: submitit checkpoints and requeues
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    (row,) = wait_for(results, "c2")
    assert row.status == "completed"
    (table,) = runs_rows(results)
    attempts = json.loads(table["attempts_json"])
    assert table["attempts"] == 2 and [a["from_step"] for a in attempts] == [0, 2]
    steps = pq.read_table(next((results / "tables" / "steps").rglob("*.parquet"))).to_pylist()
    assert [(s["step"], s["action"]) for s in steps] == [
        (1, "Write File"),
        (2, "Write File"),
        (3, "Execute Script"),
        (4, "Write File"),
        (5, "Final Answer"),
    ]
    assert "woke up" in steps[2]["observation"]


# `mlab-hpc ARGS...`, then fails if the process loaded the harness or a grading module
STATUS_LOADS_NO_GRADER = """
import sys
from mlab_hpc.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    loaded = [m for m in sys.modules if m.split(".")[:2] in (
        ["mlab_hpc", "runner"], ["mlab_hpc", "grading"], ["mlab_hpc", "grader_lib"])]
    assert not loaded, f"status loaded {loaded}"
"""


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_hard_time_limit_is_a_timeout(
    results: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("MLAB_TEST_SLEEP_S", "600")
    profile = tmp_path / "short.toml"
    profile.write_text(
        DEV_PROFILE.read_text()
        .replace("max_attempts = 3", "max_attempts = 1")
        .replace('partition = "cpu"', 'partition = "cpu"\nmax_time_min = 1')
    )
    submit(
        "--tasks",
        "cartpole",
        "--agent",
        "tests.agents_for_tests:ResumableAgent",
        "--campaign",
        "c3",
        "--profile",
        str(profile),
    )
    assert arrays_sent(results, "c3")[0]["envelope"]["requested_time_min"] == 1
    paths = CampaignPaths(ResultsRoot(results), "c3")
    deadline = time.monotonic() + 200
    while (row := campaign_status(paths)[0]).status != "to grade":  # Slurm killed the job
        assert time.monotonic() < deadline and row.status in ("pending", "running"), row
        time.sleep(2)
    import mlab_hpc.runner

    def graded_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("a run was graded in the status process")

    monkeypatch.setattr(mlab_hpc.runner, "finalize_run", graded_here)  # an attack on status
    # status --read-only only reads: the run stays ungraded, nothing is sent
    result = CliRunner().invoke(main, ["status", "--campaign", "c3", "--runs", "--read-only"])
    assert result.exit_code == 0 and "to grade" in result.output, result.output
    assert not grading_records(results, "c3") and not runs_rows(results)
    # status sends a grading job and says so on stderr; it grades nothing itself: in its own
    # process, no harness or grading module is even loaded
    proc = subprocess.run(
        [sys.executable, "-c", STATUS_LOADS_NO_GRADER, "status", "--campaign", "c3", "--runs"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (grade,) = grading_records(results, "c3")
    (grade_job,) = grade["job_ids"]
    assert f"submitted grading job {grade_job.split('_')[0]} for 1 run" in proc.stderr
    assert grade["endings"] == ["slurm_timeout"] and grade["envelope"]["requested_time_min"] == 1
    notes: list[str] = []
    (row,) = wait_for(results, "c3", timeout=200, notes=notes)
    assert row.status == "timeout" and notes == [], "one grading job per ending, not two"
    assert len(grading_records(results, "c3")) == 1
    (table,) = runs_rows(results)
    assert (table["status"], table["exit_reason"]) == ("timeout", "slurm_timeout")
    assert table["n_steps"] == 2  # the interrupted third step is not counted
    # graded inside the grading job: run.json names it, and it was another process than ours
    state = json.loads((results / "runs" / row.run_id / "run.json").read_text())
    assert state["grading_job"]["slurm_job_id"] == grade_job and state["pid"] != os.getpid()
    assert state["grading_job"]["partition"] == "cpu"
    deadline = time.monotonic() + 60
    while True:  # the run is graded; its grading job may still be finishing
        sacct = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID,JobName,State", "-j", grade_job],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")[0]
        if sacct.split("|")[-1] not in ("RUNNING", "COMPLETING") or time.monotonic() > deadline:
            break
        time.sleep(1)
    # the grading job ended well; its name is not checked here: slurmdbd may record a job
    # whose step reached it before the job itself under the placeholder name "allocation"
    # (its identity is proven above: the submission record and run.json name this job id)
    assert sacct.split("|")[0] == grade_job and sacct.split("|")[-1] == "COMPLETED", sacct


@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_gpu_runs_get_the_fake_gpu_one_after_the_other(results: Path, gpu_tasks: Path) -> None:
    submit(
        "--tasks",
        "cartpole-gpu",
        "--seeds",
        "2",
        "--campaign",
        "c4",
        "--profile",
        str(DEV_PROFILE),
        "--max-steps",
        "2",
    )
    (array,) = arrays_sent(results, "c4")
    assert array["resource_class"] == "gpu" and array["envelope"]["requested_gpus"] == 1
    rows = wait_for(results, "c4")
    assert [r.status for r in rows] == ["completed", "completed"]
    table = runs_rows(results)
    assert [r["gpu"] for r in table] == ["0", "0"]  # CUDA_VISIBLE_DEVICES set by Slurm
    spans = sorted(
        (a["started_at"], a["ended_at"]) for r in table for a in json.loads(r["attempts_json"])
    )
    assert spans[0][1] <= spans[1][0], "one GPU: the second run waits for the first"


def test_sbatch_script_of_the_example_gpu_profile(gpu_tasks: Path, tmp_path: Path) -> None:
    from submitit.slurm.slurm import _make_sbatch_string

    profile = load_profile(GPU_PROFILE)
    runs = plan(
        "golden",
        [get_task("cartpole-gpu"), get_task("cartpole")],
        [0, 1, 2],
        ["baseline"],
        [None],
        None,
    )
    arrays = group_arrays(runs, profile, JobSettings(results="/r", data_root="/d"))
    assert [(a.resource_class, len(a.runs)) for a in arrays] == [("cpu", 3), ("gpu", 3)]
    gpu = arrays[1]
    text = _make_sbatch_string(
        command="python -u -m submitit.core._submit /campaign/%j",
        folder="/campaign/%j",
        map_count=len(gpu.runs),
        **sbatch_parameters(gpu, profile),
    )
    golden = REPO / "tests" / "golden" / "example-gpu-cluster.sbatch"
    if os.environ.get("MLAB_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_dry_run_plans_without_submitting(results: Path, data_root: Path) -> None:
    out = submit(
        "--tasks",
        "cartpole,house-price",
        "--seeds",
        "8",
        "--data",
        "generated",
        "--campaign",
        "dry",
        "--executor",
        "local",
        "--dry-run",
    )
    assert "16 runs planned" in out and out.count("array cpu: 8 runs") == 2
    assert not (results / "campaigns" / "dry" / "submissions.jsonl").exists()


def test_local_executor_without_slurm(
    results: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no sbatch: a notice, local
    out = submit("--tasks", "cartpole", "--seeds", "2", "--campaign", "laptop")
    assert "running the campaign on this machine with the local executor" in " ".join(out.split())
    assert out.count("completed (final_answer)") == 2
    assert len(runs_rows(results)) == 2


def test_run_options_reach_every_run_of_a_campaign(
    results: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = CliRunner().invoke(
        main,
        [
            "submit",
            "--tasks",
            "cartpole",
            "--campaign",
            "opts",
            "--executor",
            "debug",
            "--fast-llm",
            "openai:small",
        ],
    )
    assert result.exit_code == 1 and "needs OPENAI_API_KEY" in result.output
    assert not (results / "campaigns" / "opts").exists(), "checked before anything is written"
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-never-used")  # the baseline calls no model
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-never-used")
    submit(
        "--tasks",
        "cartpole",
        "--campaign",
        "opts",
        "--executor",
        "debug",
        "--max-steps",
        "3",
        "--max-tokens",
        "5000",
        "--max-cost",
        "0.5",
        "--temperature",
        "0.2",
        "--fast-llm",
        "openai:gpt-4o-mini",
        "--edit-llm",
        "anthropic:claude-3-haiku",
    )
    (run_dir,) = (results / "runs").glob("opts.*")
    options = RunState.load(ResultsRoot(results).run(run_dir.name)).config.options
    assert (options.max_steps, options.max_tokens, options.max_cost) == (3, 5000, 0.5)
    assert (options.temperature, options.fast_llm, options.edit_llm) == (
        0.2,
        "openai:gpt-4o-mini",
        "anthropic:claude-3-haiku",
    )


# ------------------------------------------------------- when things go wrong (issue 16)
def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def sleepy(monkeypatch: pytest.MonkeyPatch) -> str:
    """An agent whose third step sleeps long enough for the test to act on a running run."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("MLAB_TEST_SLEEP_S", "600")
    return "tests.agents_for_tests:ResumableAgent"


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_failed_sbatch_is_one_line_and_leaves_earlier_arrays_visible(
    results: Path,
    gpu_tasks: Path,
    tmp_path: Path,
    sleepy: str,
) -> None:
    nosuch = tmp_path / "nosuch.toml"
    nosuch.write_text(DEV_PROFILE.read_text().replace('partition = "gpu"', 'partition = "nosuch"'))
    bad = tmp_path / "bad.toml"  # a partition that exists, a feature no node has: sbatch says no
    bad.write_text(
        DEV_PROFILE.read_text().replace(
            'partition = "gpu"', 'partition = "gpu"\nconstraint = "nosuch"'
        )
    )
    common = ("--tasks", "cartpole,cartpole-gpu", "--agent", sleepy, "--campaign", "half")
    code, out = invoke("submit", *common, "--profile", str(nosuch))  # sinfo: refused at plan
    assert code == 1 and "no partition 'nosuch'" in out and "classes.gpu.partition" in out, out
    assert not (results / "campaigns" / "half" / "submissions.jsonl").exists()
    code, out = invoke("submit", *common, "--profile", str(bad))
    assert code == 1 and "Traceback" not in out, out
    (line,) = [ln for ln in out.splitlines() if ln.startswith("Error:")]
    assert "feature" in line.lower() and "classes.gpu.constraint" in line and str(bad) in line
    (cpu,) = arrays_sent(results, "half")  # the cpu array, recorded before the gpu one failed
    assert cpu["resource_class"] == "cpu"

    code, out = invoke("submit", *common, "--profile", str(DEV_PROFILE))
    assert code == 0 and "1 still queued or running, 1 to launch" in out, out
    assert arrays_sent(results, "half")[-1]["run_ids"] == [
        "half.cartpole-gpu.tests_agents_for_tests_ResumableAgent.s0"
    ]

    code, out = invoke("cancel", "--campaign", "half")
    assert code == 0 and "cancelled 2 job(s)" in out, out


def test_sbatch_without_a_slurm_configuration_names_slurm_conf(
    results: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLURM_CONF", raising=False)  # and no /etc/slurm/slurm.conf here
    code, out = invoke(
        "submit",
        "--tasks",
        "cartpole",
        "--campaign",
        "noconf",
        "--executor",
        "slurm",
        "--profile",
        str(DEV_PROFILE),
    )
    assert code == 1 and "Traceback" not in out, out
    assert "SLURM_CONF" in out and "sbatch refused the cpu array" in out
    assert not (results / "campaigns" / "noconf" / "submissions.jsonl").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_cancel_with_pending_elements_says_cancelled_for_all(
    results: Path, tmp_path: Path, sleepy: str
) -> None:
    one_at_a_time = tmp_path / "serial.toml"
    one_at_a_time.write_text(
        DEV_PROFILE.read_text().replace("array_parallelism = 8", "array_parallelism = 1")
    )
    code, out = invoke(
        "submit",
        "--tasks",
        "cartpole",
        "--seeds",
        "4",
        "--agent",
        sleepy,
        "--campaign",
        "stop",
        "--profile",
        str(one_at_a_time),
    )
    assert code == 0, out
    paths = CampaignPaths(ResultsRoot(results), "stop")
    first = results / "runs" / "stop.cartpole.tests_agents_for_tests_ResumableAgent.s0"
    deadline = time.monotonic() + 120
    while not (first / "workspace" / "partial.txt").exists():  # one running, three pending
        assert time.monotonic() < deadline, "the first run never started"
        time.sleep(0.5)
    code, out = invoke("cancel", "--campaign", "stop")
    assert code == 0 and "cancelled 4 job(s)" in out, out
    deadline = time.monotonic() + 120
    while True:
        rows = reconcile(paths, notify=lambda text: None)
        if all(r.status == "cancelled" for r in rows) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert [r.status for r in rows] == ["cancelled"] * 4, rows
    code, out = invoke("status", "--campaign", "stop", "--watch")  # returns: nothing can change
    assert code == 0 and "4 cancelled" in out, out
    # run 0 was graded by a grading job, which may still be finishing (COMPLETING) after it
    # wrote the grade; a run whose grading job is live is not relaunched, so wait it out
    wait_until_gone([job for g in grading_records(results, "stop") for job in g["job_ids"]])
    # cancelled runs are Slurm's doing: a resubmission relaunches all four, whether or not
    # status finalised them (run 0 was, runs 1-3 never started)
    code, out = invoke(
        "submit",
        "--tasks",
        "cartpole",
        "--seeds",
        "4",
        "--agent",
        sleepy,
        "--campaign",
        "stop",
        "--profile",
        str(one_at_a_time),
    )
    assert code == 0 and "0 already done, 0 still queued or running, 4 to launch" in out, out
    code, out = invoke("cancel", "--campaign", "stop")
    assert code == 0 and "cancelled 4 job(s)" in out, out


def test_dry_run_touches_nothing_and_lists_every_missing_dataset(
    results: Path, data_root: Path
) -> None:
    common = ("--campaign", "dry2", "--executor", "local", "--dry-run")
    out = submit("--tasks", "house-price,spaceship-titanic", "--data", "generated", *common)
    assert "2 runs planned" in out
    assert not any(data_root.rglob("*")), "a dry run prepares no data"
    assert not (results / "campaigns").exists(), "a dry run writes nothing"
    result = CliRunner().invoke(
        main, ["submit", "--tasks", "house-price,spaceship-titanic,cartpole", *common]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "2 task(s): house-price, spaceship-titanic" in result.output, result.output


def test_arrays_split_at_the_array_size_and_smoke_asks_short_limits() -> None:
    profile = load_profile(DEV_PROFILE)
    runs = plan("split", [get_task("cartpole")], list(range(5)), ["baseline"], [None], None)
    settings = JobSettings(results="/r", data_root="/d")
    arrays = group_arrays(runs, profile, settings, max_array_size=2)
    assert [len(a.runs) for a in arrays] == [2, 2, 1]
    smoke = JobSettings(results="/r", data_root="/d", options=RunOptions(smoke=True))
    house = plan("s", [get_task("house-price")], [0], ["baseline"], [None], "generated", True)
    (array,) = group_arrays(house, profile, smoke)
    assert array.time_min == profile.smoke_time_min == 30


def test_jobs_ask_for_the_agent_time_and_the_graders_time() -> None:
    # A run's job grades the run at its end: it asks for the task's agent time plus its
    # grader's limit (baby-lm's: 2 h) plus the margin. A grading job asks for the grader's
    # limit plus the margin, at least the profile's grade_time_min: a 10-minute grading job
    # would be killed in the middle of a 2-hour grading and leave the run ungraded.
    profile = load_profile(DEV_PROFILE)
    settings = JobSettings(results="/r", data_root="/d")
    tasks = [get_task("cartpole"), get_task("baby-lm")]
    runs = plan("t", tasks, [0], ["baseline"], [None], None)
    jobs = {a.runs[0].task: a.time_min for a in group_arrays(runs, profile, settings)}
    grading = {
        a.runs[0].task: a.time_min for a in group_arrays(runs, profile, settings, grading=True)
    }
    for task in tasks:
        agent_min = math.ceil(task.limits.max_time_s / 60)
        grader_min = math.ceil(task.grader.timeout_s / 60)
        assert jobs[task.id] == agent_min + grader_min + profile.time_margin_min
        assert grading[task.id] == max(profile.grade_time_min, grader_min + 5)
    assert (profile.grade_time_min, grading["baby-lm"]) == (10, 125)


@pytest.mark.slow
@pytest.mark.usefixtures("dev_cluster", "data_root")
def test_plan_reads_the_cluster_max_array_size_and_refuses_impossible_requests(
    results: Path, gpu_tasks: Path
) -> None:
    out = submit(
        "--tasks",
        "cartpole",
        "--seeds",
        "1002",
        "--campaign",
        "big",
        "--dry-run",
        "--profile",
        str(DEV_PROFILE),
    )  # the dev cluster keeps Slurm's stock MaxArraySize (1001)
    assert "array cpu: 1001 runs" in out and "array cpu: 1 runs" in out, out
    toml = gpu_tasks / "cartpole-gpu" / "task.toml"
    toml.write_text(toml.read_text().replace("cpus = 1", "cpus = 4096"))
    result = CliRunner().invoke(
        main,
        [
            "submit",
            "--tasks",
            "cartpole-gpu",
            "--campaign",
            "huge",
            "--dry-run",
            "--profile",
            str(DEV_PROFILE),
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "4096 CPUs" in result.output and "partition gpu" in result.output, result.output
