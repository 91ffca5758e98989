"""Where every run of a campaign stands, from its own files and from Slurm's accounting.

``campaign_status`` only reads: run.json files, the runs table, the campaign's submissions
record, squeue and sacct. A run whose job Slurm ended without grading it (killed at the hard
time limit, cancelled, its node lost, out of memory) is graded by a small grading job on a
compute node of its resource class, never here: ``reconcile`` (what ``mlab-hpc status`` runs)
sends one such job array per distinct request, records it like the run arrays, and never sends
a second grading job for the same ending of a run (docs/slurm.md, "what happens when").
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import PrerequisiteError
from ..paths import ResultsRoot
from ..runrecord import RunState
from .campaign import (
    CampaignPaths,
    GradingJob,
    grading_jobs,
    manifest_profile,
    read_manifest,
    run_state,
    submitted_jobs,
)
from .profiles import ClusterProfile, default_profile, load_profile

ACTIVE = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "CONFIGURING",
    "COMPLETING",
    "RESIZING",
    "SUSPENDED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "SIGNALING",
    "STAGE_OUT",
}
ENDINGS = {  # Slurm's final job state -> the run's exit reason when the run did not record one
    "TIMEOUT": "slurm_timeout",
    "DEADLINE": "slurm_timeout",
    "CANCELLED": "cancelled",
    "FAILED": "crashed",
    "NODE_FAIL": "node_fail",
    "BOOT_FAIL": "node_fail",
    "OUT_OF_MEMORY": "out_of_memory",
    "PREEMPTED": "max_attempts",
    "COMPLETED": "crashed",  # the job ended cleanly yet the run is not graded: treat as a crash
}


INFRASTRUCTURE = {"cancelled", "node_fail", "out_of_memory", "preempted"}
# every status a run can leave only by Slurm's doing (what `status --watch` waits for)
LIVE = {s.lower() for s in ACTIVE} | {"grading"}


@dataclass
class RunStatus:
    run_id: str
    task: str
    agent: str
    model: str | None
    seed: int
    status: str  # not submitted | pending | running | completed | failed | timeout | ...
    job_id: str | None
    exit_reason: str | None = None
    final_score: float | None = None
    # set when Slurm ended the run's job and nobody graded the run yet: what its grading job
    # is sent with (the ending, Slurm's words, the attempts it had)
    to_grade: dict[str, Any] | None = field(default=None, repr=False)
    grading_job: str | None = None


def _expand(job: str) -> list[str]:
    """sacct's compressed array rows (``32_[1-3,7%4]``) as element ids (``32_1``, ...)."""
    head, sep, rest = job.partition("_[")
    if not sep:
        return [job]
    ids: list[str] = []
    for part in rest.rstrip("]").split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (hi or lo).isdigit():
            ids.extend(f"{head}_{i}" for i in range(int(lo), int(hi or lo) + 1))
    return ids


def _bytes(text: str) -> int | None:
    """sacct's sizes (``628848K``, ``2G``, ``200Mn``) in bytes; None when empty."""
    m = re.fullmatch(r"([0-9.]+)([KMGTP]?)[nc]?", text.strip())
    if not m:
        return None
    return int(float(m.group(1)) * 1024 ** " KMGTP".index(m.group(2) or " "))


def _slurm_job_states(job_ids: list[str]) -> dict[str, str]:
    """State of each job id (array elements as ``123_4``): squeue for live, sacct for ended.

    Slurm is asked about whole arrays (the campaign's own record names them), and sacct's
    compressed rows are expanded, so elements cancelled before they started are CANCELLED.
    An element that neither command lists, under an array that has nothing left in the queue
    and is known to accounting, ended with its array (CANCELLED when any element was).
    A job that ended because a step ran out of memory is OUT_OF_MEMORY, whatever its batch
    shell's exit made of it: a step that sacct says OUT_OF_MEMORY (cgroup enforcement), or
    one killed while its peak RSS exceeded the job's request (OverMemoryKill enforcement).
    """
    ids = sorted({j for j in job_ids if j and j[0].isdigit()})
    if not ids:
        return {}
    arrays = sorted({j.split("_")[0] for j in ids})
    states: dict[str, str] = {}
    requested: dict[str, int] = {}
    oom: set[str] = set()
    try:
        proc = subprocess.run(
            ["sacct", "-n", "-P", "-o", "JobID,State,MaxRSS,ReqMem", "-j", ",".join(arrays)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        steps: list[tuple[str, str, str]] = []
        for line in proc.stdout.splitlines():
            fields = (line.split("|") + ["", "", ""])[:4]
            job, state, max_rss, req_mem = (f.strip() for f in fields)
            if "." in job:  # a step of a job: 32_1.0, 33.batch
                steps.append((job.split(".")[0], state, max_rss))
                continue
            for element in _expand(job):
                states[element] = state.split()[0] if state else "UNKNOWN"
                if (size := _bytes(req_mem)) is not None:
                    requested[element] = size
        for job, state, max_rss in steps:
            peak = _bytes(max_rss)
            if state.startswith("OUT_OF_ME") or (
                state.startswith("CANCELLED")
                and peak is not None
                and job in requested
                and peak > requested[job]
            ):
                oom.add(job)
        queue = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return states
    for job in oom:
        if states.get(job) in ("FAILED", "CANCELLED", "COMPLETED"):
            states[job] = "OUT_OF_MEMORY"
    live_arrays: set[str] = set()
    for line in queue.stdout.splitlines():
        job, _, state = line.strip().partition(" ")
        for element in _expand(job):
            states[element] = state.strip()  # the live view wins over accounting's lag
            live_arrays.add(element.split("_")[0])
    if queue.returncode != 0 or proc.returncode != 0:
        return states  # Slurm did not answer in full: nothing is concluded from absence
    for job in ids:
        array = job.split("_")[0]
        known = [v for k, v in states.items() if k.split("_")[0] == array]
        if job not in states and known and array not in live_arrays:
            states[job] = "CANCELLED" if "CANCELLED" in known else "UNKNOWN_ENDED"
    return states


def campaign_status(paths: CampaignPaths) -> list[RunStatus]:
    """The status of every run in the campaign's manifest; reads only, grades nothing.

    A run that Slurm ended ungraded is ``to grade`` (its ``to_grade`` says with what), or
    ``grading`` while its grading job is queued or running, or ``ungraded`` when that job
    ended without grading it (its log says why; ``submit`` again resumes or grades it).
    """
    results: ResultsRoot = paths.results
    jobs = submitted_jobs(paths)
    on_slurm = submitted_jobs(paths, executor="slurm")  # local jobs' ids are not Slurm's
    grading = grading_jobs(paths)
    slurm = _slurm_job_states(list(on_slurm.values()) + [g.job_id for g in grading.values()])
    rows = []
    for spec in read_manifest(paths):
        state = run_state(results, spec.run_id)
        job_id = jobs.get(spec.run_id)
        job_state = slurm.get(on_slurm.get(spec.run_id, ""), "")
        row = RunStatus(
            spec.run_id,
            spec.task,
            spec.agent,
            spec.model,
            spec.seed,
            "not submitted" if job_id is None else "pending",
            job_id,
        )
        if job_state in ACTIVE:  # also a graded run that a resubmission relaunched
            row.status = "running" if job_state == "RUNNING" and state else job_state.lower()
        elif state is not None and state.status == "graded":
            _fill_from_table(results, spec.run_id, spec.campaign, spec.task, row)
        elif (job_state in ENDINGS or job_state == "UNKNOWN_ENDED") and (
            state is None or state.status == "unrecoverable"
        ):
            # never started (cancelled while pending), or beyond grading
            row.exit_reason = ENDINGS.get(job_state, "lost")
            row.status = row.exit_reason if state is None else "unrecoverable"
        elif job_state in ENDINGS or job_state == "UNKNOWN_ENDED":
            assert state is not None
            _ended_ungraded(row, state, job_state, grading.get(spec.run_id), slurm)
        elif state is not None:
            row.status = state.status
        if row.exit_reason in INFRASTRUCTURE and row.status == "failed":
            row.status = row.exit_reason  # said as what happened: cancelled, node_fail, ...
        rows.append(row)
    return rows


def _ended_ungraded(
    row: RunStatus,
    state: RunState,
    job_state: str,
    grading: GradingJob | None,
    slurm: dict[str, str],
) -> None:
    """A run whose job Slurm ended before the run was graded: to grade, grading, ungraded."""
    attempts = len(state.attempts)
    # what the run recorded itself (its job's checkpoint: slurm_timeout, max_attempts) wins
    row.exit_reason = state.exit_reason or ENDINGS.get(job_state, "lost")
    if grading is not None and grading.attempts == attempts:  # this ending already has one
        row.grading_job = grading.job_id
        grading_state = slurm.get(grading.job_id, "")
        row.status = "grading" if grading_state in ACTIVE or not grading_state else "ungraded"
        return
    row.status = "to grade"
    row.to_grade = {
        "exit_reason": row.exit_reason,
        "error": f"Slurm job {row.job_id} ended as {job_state}",
        "attempts": attempts,
    }


def campaign_profile(paths: CampaignPaths, override: ClusterProfile | None) -> ClusterProfile:
    """The profile grading jobs use: ``override``, else the one the campaign was submitted
    with (its manifest), else the default one."""
    if override is not None:
        return override
    path = manifest_profile(paths)
    if path is not None and not path.is_file():
        raise PrerequisiteError(
            f"the campaign's profile {path} is gone: pass the cluster profile with "
            f"mlab-hpc status --campaign {paths.name} --profile PATH"
        )
    return load_profile(path) if path is not None else default_profile()


def reconcile(
    paths: CampaignPaths,
    profile: ClusterProfile | None = None,
    notify: Callable[[str], None] = print,
    submit: bool = True,
) -> list[RunStatus]:
    """Every run's status (:func:`campaign_status`), and, with ``submit``, one grading job
    array per distinct request for the runs that Slurm ended ungraded and that have no grading
    job for this ending yet. Each array is recorded in submissions.jsonl as soon as its sbatch
    returns and announced through ``notify`` ("submitted grading job N for K run(s)"). Nothing
    is graded in this process. A refused sbatch is announced, not raised: the rows stay
    ``to grade`` and the next call tries again.
    """
    from .submit import submit_grading

    rows = campaign_status(paths)
    todo = [r for r in rows if r.to_grade is not None]
    if not todo or not submit:
        return rows
    try:
        prof = campaign_profile(paths, profile)
        sent = submit_grading(paths, todo, prof)
    except PrerequisiteError as exc:
        notify(f"grading jobs not submitted: {exc}")
        return rows
    by_run = {}
    for array in sent:
        for run_id, job_id in zip(array["run_ids"], array["job_ids"], strict=True):
            by_run[run_id] = job_id
        first = array["job_ids"][0].split("_")[0]
        n = len(array["run_ids"])
        notify(
            f"submitted grading job {first} for {n} run{'s' if n > 1 else ''} "
            f"({array['resource_class']}: {', '.join(array['run_ids'])})"
        )
    for row in todo:
        if row.run_id in by_run:
            row.status, row.grading_job, row.to_grade = "grading", by_run[row.run_id], None
    return rows


def _fill_from_table(
    results: ResultsRoot, run_id: str, campaign: str, task: str, row: RunStatus
) -> None:
    import pyarrow.parquet as pq

    path = results.table_file("runs", campaign, task, run_id)
    if not path.exists():
        row.status = "graded (no table row)"
        return
    data: dict[str, Any] = pq.read_table(path).to_pylist()[0]
    row.status = data["status"]
    row.exit_reason = data["exit_reason"]
    row.final_score = data["final_score"]


def cancel(paths: CampaignPaths) -> list[str]:
    """scancel every live job of the campaign; returns the job ids cancelled.

    A running run's job stops at Slurm's SIGTERM without recording the step in flight
    (jobs.CampaignRun); it stays as it was on disk, ``status`` sends its grading job (it is
    graded as ``cancelled``) and a resubmission resumes it. Grading jobs are cancelled too.
    """
    mine = set(submitted_jobs(paths, executor="slurm").values())
    mine |= {g.job_id for g in grading_jobs(paths).values()}
    states = _slurm_job_states(list(mine))
    live = sorted(j for j, s in states.items() if s in ACTIVE and j in mine)
    if live:
        subprocess.run(["scancel", *live], check=False, capture_output=True, timeout=60)
    return live


def active_run_ids(paths: CampaignPaths) -> set[str]:
    """Runs whose latest job, or grading job, is still pending or running (not to be
    submitted again)."""
    jobs = submitted_jobs(paths, executor="slurm")
    grading = {run: g.job_id for run, g in grading_jobs(paths).items()}
    states = _slurm_job_states(list(jobs.values()) + list(grading.values()))
    return {
        run
        for run in jobs.keys() | grading.keys()
        if states.get(jobs.get(run, "")) in ACTIVE or states.get(grading.get(run, "")) in ACTIVE
    }
