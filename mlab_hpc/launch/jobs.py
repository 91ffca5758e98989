"""The job every launched run executes: create or resume the run, drive it, grade it.

It is the callable submitit pickles. It is checkpointable: when Slurm warns of a time limit or a
preemption (USR2), submitit asks it for a checkpoint and requeues the job; the run's own files
are the checkpoint, so the requeued job simply resumes after the last completed step.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import submitit

from ..paths import TABLES, ResultsRoot
from ..runrecord import RunConfig, RunOptions, RunState
from .campaign import RunSpec, relaunch, run_state

if TYPE_CHECKING:
    from ..runner import Progress

# The harness (runner: agents, sandboxes, graders) is imported inside the jobs only: the login
# node's `submit` and `status`, which pickle these callables, never load a grader.


@dataclass(frozen=True)
class JobSettings:
    """What every run of one submission shares: a template of its runs' configs (roots and
    options) and the resubmission rule's settings."""

    results: str
    data_root: str
    options: RunOptions = RunOptions()
    max_attempts: int = 3
    retry_failed: bool = False

    def config_for(self, spec: RunSpec) -> RunConfig:
        """The config of one planned run (a smoke plan makes a smoke run)."""
        options = self.options.updated(smoke=True) if spec.smoke else self.options
        return RunConfig(
            task=spec.task,
            agent=spec.agent,
            seed=spec.seed,
            campaign=spec.campaign,
            results=self.results,
            data_root=self.data_root,
            data_mode=spec.data_mode,
            model=spec.model,
            run_id=spec.run_id,
            options=options,
        )


def discard_run(results: ResultsRoot, spec: RunSpec) -> None:
    """Remove a run's folder and table rows (before it is run again from scratch)."""
    shutil.rmtree(results.run(spec.run_id).dir, ignore_errors=True)
    for table in TABLES:
        results.table_file(table, spec.campaign, spec.task, spec.run_id).unlink(missing_ok=True)


def reopen_run(results: ResultsRoot, spec: RunSpec, state: RunState) -> None:
    """Turn a run finalised after an infrastructure ending back into a running one.

    Its steps, snapshots and attempts stay; its ending and its table rows go, so the next
    attempt resumes after the last completed step and grades the run again at its end.
    """
    state.reopen()
    state.save(results.run(spec.run_id))
    for table in TABLES:
        results.table_file(table, spec.campaign, spec.task, spec.run_id).unlink(missing_ok=True)


def execute(
    spec: RunSpec, settings: JobSettings, envelope: dict[str, Any], progress: Progress | None = None
) -> dict[str, Any]:
    """Run (or resume, or just grade) one run to its graded end; returns its summary."""
    from ..runner import create_run, drive_run, finalize_run

    results = ResultsRoot(Path(settings.results))
    state = run_state(results, spec.run_id)
    action = relaunch(state, settings.max_attempts, settings.retry_failed)
    if action is None:
        return {"run_id": spec.run_id, "status": "already graded"}
    paths = results.run(spec.run_id)
    if action == "restart":
        discard_run(results, spec)  # a harness crash, a retried agent failure, a half-made run
        state = None
    elif action == "resume" and state is not None and _resumable_ending(state, settings):
        reopen_run(results, spec, state)  # graded, or ended and never graded, by Slurm's doing
    if state is None:
        create_run(settings.config_for(spec), progress)
        state = RunState.load(paths)
    if state.status in ("created", "running"):
        drive_run(paths, progress, attempt=envelope)
    row = finalize_run(paths, progress)
    return {
        k: row.get(k)
        for k in (
            "run_id",
            "status",
            "exit_reason",
            "n_steps",
            "final_score",
            "human_relative",
            "slurm_job_id",
        )
    }


def _resumable_ending(state: RunState, settings: JobSettings) -> bool:
    """A run that ended (graded or not) for a reason the resubmission rule resumes."""
    if state.status not in ("graded", "ended"):
        return False
    as_graded = replace(state, status="graded")
    return relaunch(as_graded, settings.max_attempts, settings.retry_failed) == "resume"


def slurm_place() -> dict[str, Any]:
    """Where this process runs: node, and its Slurm job as ``ARRAYID_INDEX`` for an array
    element (the id squeue, sacct and ``status`` use), else ``SLURM_JOB_ID``."""
    env = os.environ
    array, index = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    return {
        "slurm_job_id": f"{array}_{index}" if array and index else env.get("SLURM_JOB_ID"),
        "node": socket.gethostname(),
        "partition": env.get("SLURM_JOB_PARTITION"),
        "gpus_visible": env.get("CUDA_VISIBLE_DEVICES"),
    }


class GradeRun:
    """A grading job: grades one run that Slurm ended ungraded, on a compute node of the
    run's resource class (sent by ``launch.status.reconcile``, never run by ``status``).

    It grades only the ending it was sent for: a run graded meanwhile, or resumed by a
    resubmission (more attempts than when it was sent), is left alone.
    """

    def __init__(self, results: str, run_id: str, attempts: int, exit_reason: str, error: str):
        self.results = results
        self.run_id = run_id
        self.attempts = attempts
        self.exit_reason = exit_reason
        self.error = error

    def __call__(self) -> dict[str, Any]:
        from ..runner import recover_run

        paths = ResultsRoot(Path(self.results)).run(self.run_id)
        state = RunState.load(paths)
        if state.status in ("graded", "unrecoverable") or len(state.attempts) != self.attempts:
            return {"run_id": self.run_id, "status": f"left alone ({state.status})"}
        # the mark that this run was graded here, in this Slurm job (run.json "grading_job")
        state.grading_job = {**slurm_place(), "started_at": time.time()}
        state.save(paths)
        # the ending as status read it (a name of runner's exit reasons), passed through
        row = recover_run(paths, exit_reason=cast(Any, self.exit_reason), error=self.error)
        return {k: row.get(k) for k in ("run_id", "status", "exit_reason", "final_score")}

    def __repr__(self) -> str:
        return f"GradeRun({self.run_id})"


def _stop_now(signum: int, frame: Any) -> None:
    """End the job's process without recording anything more (the run resumes or is
    reconciled from what it recorded before)."""
    os._exit(128 + signum)


class CampaignRun(submitit.helpers.Checkpointable):
    """One run as a submitit job."""

    def __init__(self, spec: RunSpec, settings: JobSettings, envelope: dict[str, Any]) -> None:
        self.spec = spec
        self.settings = settings
        self.envelope = envelope

    def __call__(self) -> dict[str, Any]:
        if os.environ.get("SLURM_JOB_ID"):
            # scancel, a node drain or the hard time limit: SIGTERM reaches every process of the
            # step at once, the sandboxed command included. Stop here at once, so that a step
            # whose command was killed is never recorded as finished nor the run graded on it.
            signal.signal(signal.SIGTERM, _stop_now)
        return execute(self.spec, self.settings, self.envelope)

    def checkpoint(  # type: ignore[override]  # None means "do not requeue" to submitit
        self, *args: Any, **kwargs: Any
    ) -> submitit.helpers.DelayedSubmission | None:
        """Requeue, unless the run has used all its attempts.

        A run that gives up ends as 'slurm_timeout' when its job reached its time limit, else
        as 'max_attempts' (preempted too often); it is graded by the grading job that the next
        ``mlab-hpc status`` sends.
        """
        results = ResultsRoot(Path(self.settings.results))
        state = run_state(results, self.spec.run_id)
        if state is None or len(state.attempts) < self.settings.max_attempts:
            return submitit.helpers.DelayedSubmission(self)
        if state.status in ("created", "running"):
            attempt = state.attempts[-1]
            limit_s = 60 * float(self.envelope.get("requested_time_min") or 0)
            warning_s = float(self.envelope.get("signal_delay_s") or 0) + 60
            at_limit = limit_s > 0 and time.time() - attempt.started_at >= limit_s - warning_s
            state.end(
                "slurm_timeout" if at_limit else "max_attempts",
                f"stopped by Slurm ({'time limit' if at_limit else 'preempted'}) "
                f"on attempt {len(state.attempts)} of {self.settings.max_attempts}",
            )
            state.save(results.run(self.spec.run_id))
        return None

    def __repr__(self) -> str:
        return f"CampaignRun({self.spec.run_id})"
