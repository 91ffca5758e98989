"""Where every run of a campaign stands, from its own files and from Slurm's accounting.

A run whose job ended without grading it (killed at the hard time limit, cancelled, its node
lost) is finalised here from what it recorded, with the ending Slurm reported, so that it shows
in the runs table as what it was (``timeout``, ``failed``) instead of staying "running".
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

from ..paths import ResultsRoot
from ..runner import Progress, recover_run
from .campaign import CampaignPaths, read_manifest, run_state, submitted_jobs

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
LIVE = {s.lower() for s in ACTIVE}


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


def _slurm_job_states(job_ids: list[str]) -> dict[str, str]:
    """State of each job id (array elements as ``123_4``): squeue for live, sacct for ended.

    Slurm is asked about whole arrays (the campaign's own record names them), and sacct's
    compressed rows are expanded, so elements cancelled before they started are CANCELLED.
    An element that neither command lists, under an array that has nothing left in the queue
    and is known to accounting, ended with its array (CANCELLED when any element was).
    """
    ids = sorted({j for j in job_ids if j and j[0].isdigit()})
    if not ids:
        return {}
    arrays = sorted({j.split("_")[0] for j in ids})
    states: dict[str, str] = {}
    try:
        proc = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(arrays)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        for line in proc.stdout.splitlines():
            job, _, state = line.partition("|")
            for element in _expand(job.strip()):
                states[element] = state.split()[0] if state.strip() else "UNKNOWN"
        queue = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return states
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


def campaign_status(
    paths: CampaignPaths, reconcile: bool = True, progress: Progress | None = None
) -> list[RunStatus]:
    """The status of every run in the campaign's manifest (finalising runs Slurm ended)."""
    results: ResultsRoot = paths.results
    jobs = submitted_jobs(paths)
    slurm = _slurm_job_states(list(jobs.values()))
    rows = []
    for spec in read_manifest(paths):
        state = run_state(results, spec.run_id)
        job_id = jobs.get(spec.run_id)
        job_state = slurm.get(job_id or "", "")
        row = RunStatus(
            spec.run_id,
            spec.task,
            spec.agent,
            spec.model,
            spec.seed,
            "not submitted" if job_id is None else "pending",
            job_id,
        )
        if state is not None and state.get("status") == "graded":
            _fill_from_table(results, spec.run_id, spec.campaign, spec.task, row)
        elif job_state in ACTIVE:
            row.status = "running" if job_state == "RUNNING" and state else job_state.lower()
        elif job_state in ENDINGS and state is not None and reconcile:
            reason = ENDINGS[job_state]
            recover_run(
                results.run(spec.run_id),
                progress,
                exit_reason=reason,
                error=f"Slurm job {job_id} ended as {job_state}",
            )
            _fill_from_table(results, spec.run_id, spec.campaign, spec.task, row)
        elif job_state in ENDINGS or job_state == "UNKNOWN_ENDED":
            # never started (cancelled while pending), or not finalised (reconcile=False)
            row.exit_reason = ENDINGS.get(job_state, "lost")
            row.status = row.exit_reason if state is None else "ended"
        elif state is not None:
            row.status = str(state.get("status"))
        if row.exit_reason in INFRASTRUCTURE and row.status in ("failed", "ended"):
            row.status = row.exit_reason  # said as what happened: cancelled, node_fail, ...
        rows.append(row)
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
    (jobs.CampaignRun); it stays as it was on disk, ``status`` reconciles it as ``cancelled``
    and a resubmission resumes it.
    """
    jobs = submitted_jobs(paths)
    mine = set(jobs.values())
    states = _slurm_job_states(list(mine))
    live = sorted(j for j, s in states.items() if s in ACTIVE and j in mine)
    if live:
        subprocess.run(["scancel", *live], check=False, capture_output=True, timeout=60)
    return live


def active_run_ids(paths: CampaignPaths) -> set[str]:
    """Runs whose latest job is still pending or running (not to be submitted again)."""
    jobs = submitted_jobs(paths)
    states = _slurm_job_states(list(jobs.values()))
    return {run for run, job in jobs.items() if states.get(job) in ACTIVE}
