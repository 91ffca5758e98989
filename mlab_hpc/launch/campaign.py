"""A campaign: the runs of tasks x seeds x agents x models, with stable ids and a manifest.

The manifest (``<results>/campaigns/<name>/manifest.json``) is written before anything is
submitted; every submission appends what it sent to ``submissions.jsonl``. A run's id depends
only on the campaign and its coordinates, so submitting the same campaign again finds the runs
it already has.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import jsonl
from ..paths import ResultsRoot
from ..runrecord import RunConfig, RunRecordError, RunState
from ..taskspec import TaskSpec


@dataclass(frozen=True)
class RunSpec:
    """One planned run."""

    run_id: str
    campaign: str
    task: str
    agent: str
    model: str | None
    seed: int
    data_mode: str | None
    smoke: bool = False


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:40] or "x"


def run_id_for(
    campaign: str,
    task: str,
    agent: str,
    model: str | None,
    seed: int,
    data_mode: str | None = None,
    smoke: bool = False,
) -> str:
    """The stable id of a run: the same coordinates always give the same id.

    Runs of different kinds never share an id: generated-data runs end in ``.gen`` and smoke
    runs in ``.smoke``, so a smoke campaign followed by the real one launches the real runs.
    Real-data, non-smoke runs keep the plain form (``campaign.task.agent[.model].sN``).
    """
    parts = [_slug(campaign), task, _slug(agent)]
    if model:
        parts.append(_slug(model))
    parts.append(f"s{seed}")
    if (data_mode or "real") != "real":
        parts.append("gen" if data_mode == "generated" else _slug(data_mode or ""))
    if smoke:
        parts.append("smoke")
    return ".".join(parts)


def plan(
    campaign: str,
    tasks: list[TaskSpec],
    seeds: list[int],
    agents: list[str],
    models: list[str | None],
    data_mode: str | None,
    smoke: bool = False,
) -> list[RunSpec]:
    """Every run of the campaign, in a stable order (task, agent, model, seed).

    A task without data runs the same whatever ``data_mode`` says: its runs are real ones (no
    ``.gen`` in their ids), as the runs table and the report count them.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", campaign):
        from ..errors import PrerequisiteError

        raise PrerequisiteError(
            f"campaign name {campaign!r}: use letters, digits, '.', '_' and '-' only"
        )
    return [
        RunSpec(
            run_id_for(campaign, t.id, a, m, s, mode, smoke),
            campaign,
            t.id,
            a,
            m,
            s,
            mode,
            smoke,
        )
        for t in tasks
        for mode in [data_mode if t.data.needs_preparation else None]
        for a in agents
        for m in models
        for s in seeds
    ]


@dataclass(frozen=True)
class CampaignPaths:
    results: ResultsRoot
    name: str

    @property
    def dir(self) -> Path:
        return self.results.root / "campaigns" / self.name

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def submissions(self) -> Path:
        return self.dir / "submissions.jsonl"

    @property
    def submitit_dir(self) -> Path:
        return self.dir / "submitit"


def write_manifest(paths: CampaignPaths, runs: list[RunSpec], extra: dict[str, Any]) -> None:
    """Record the campaign's runs (merged with earlier ones of the same campaign)."""
    paths.dir.mkdir(parents=True, exist_ok=True)
    existing = read_manifest(paths)
    known = {r.run_id: r for r in existing}
    known.update({r.run_id: r for r in runs})
    doc = {
        "campaign": paths.name,
        "updated_at": time.time(),
        **extra,
        "runs": [asdict(r) for r in known.values()],
    }
    tmp = paths.manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(paths.manifest)


def read_manifest(paths: CampaignPaths) -> list[RunSpec]:
    if not paths.manifest.exists():
        return []
    return [RunSpec(**r) for r in json.loads(paths.manifest.read_text())["runs"]]


def record_submission(paths: CampaignPaths, record: dict[str, Any]) -> None:
    jsonl.Appender(paths.submissions).append({"submitted_at": time.time(), **record})


def submitted_jobs(paths: CampaignPaths, executor: str | None = None) -> dict[str, str]:
    """The latest Slurm (or local) job id of every submitted run (its run job, not a grading
    job); with ``executor``, only runs whose latest job went through that executor."""
    jobs: dict[str, str] = {}
    for record in jsonl.read(paths.submissions):
        if record.get("kind", "run") != "run":
            continue
        for array in record.get("arrays", []):
            for run_id, job_id in zip(array["run_ids"], array["job_ids"], strict=True):
                jobs[run_id] = job_id
                if executor is not None and record.get("executor") != executor:
                    del jobs[run_id]
    return jobs


@dataclass(frozen=True)
class GradingJob:
    """A grading job sent for a run that Slurm ended ungraded (see launch/status.py)."""

    job_id: str
    attempts: int  # how many attempts the run had when it was sent: one per ending
    exit_reason: str


def grading_jobs(paths: CampaignPaths) -> dict[str, GradingJob]:
    """The latest grading job of every run that has one (records of kind 'grade')."""
    jobs: dict[str, GradingJob] = {}
    for record in jsonl.read(paths.submissions):
        if record.get("kind") != "grade":
            continue
        for array in record.get("arrays", []):
            for run_id, job_id, attempts, reason in zip(
                array["run_ids"],
                array["job_ids"],
                array["attempts"],
                array["endings"],
                strict=True,
            ):
                jobs[run_id] = GradingJob(job_id, attempts, reason)
    return jobs


def manifest_profile(paths: CampaignPaths) -> Path | None:
    """The cluster profile the campaign was last submitted with (None: the default one)."""
    if not paths.manifest.exists():
        return None
    value = json.loads(paths.manifest.read_text()).get("profile")
    return Path(value) if value else None


def run_state(results: ResultsRoot, run_id: str) -> RunState | None:
    """The run's state, or None when the run has not started. A corrupt run.json reads as an
    unrecoverable run (with the reason), which a resubmission restarts; a record this
    harness cannot read (another version's) raises RunRecordError: never restarted, so its
    steps are never discarded."""
    paths = results.run(run_id)
    try:
        return RunState.load(paths)
    except FileNotFoundError:
        return None
    except RunRecordError:
        raise
    except (OSError, ValueError) as exc:
        return RunState(
            config=RunConfig(task=run_id.split(".", 1)[0], run_id=run_id),
            status="unrecoverable",
            unrecoverable_reason=f"{paths.state} unreadable: {exc}"[:500],
        )


# Endings that are Slurm's doing, not the agent's: a resubmission resumes the run after its last
# completed step, as one more attempt (see docs/slurm.md, "what happens when").
INFRASTRUCTURE_ENDINGS = {"cancelled", "node_fail", "out_of_memory", "max_attempts"}
# Endings that are the agent's (or its model's) doing: kept unless --retry-failed.
AGENT_FAILURES = {"agent_error", "llm_error"}


def relaunch(
    state: RunState | None, max_attempts: int = 3, retry_failed: bool = False
) -> str | None:
    """What a resubmission does with a run: None (keep it), 'new', 'resume' or 'restart'.

    The rule reads only the run's own record, so it is the same whether ``status`` reconciled
    the run before or not: a run that Slurm stopped and nobody finalised is still 'running' on
    disk and resumes; one that ``status`` finalised as cancelled, node_fail, out_of_memory or
    preempted (max_attempts) resumes too, and so does a run stopped at Slurm's time limit while
    it has attempts left. A harness crash restarts from scratch; agent failures restart only
    with ``retry_failed``. Runs still queued or running in Slurm are filtered out by the caller.
    """
    if state is None:
        return "new"
    if state.status in ("created", "running", "ended"):
        return "resume" if state.initial_snapshot else "restart"
    if state.status != "graded":
        return "restart"  # unreadable or unrecoverable
    reason = state.exit_reason
    attempts = len(state.attempts)
    if reason in INFRASTRUCTURE_ENDINGS:
        return "resume"
    if reason == "slurm_timeout" and attempts < max_attempts:
        return "resume"
    if reason == "crashed" or (retry_failed and reason in AGENT_FAILURES):
        return "restart"
    return None


def is_done(state: RunState | None, max_attempts: int = 3, retry_failed: bool = False) -> bool:
    """True when a resubmission keeps the run as it is (see :func:`relaunch`)."""
    return relaunch(state, max_attempts, retry_failed) is None
