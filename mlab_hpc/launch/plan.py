"""Planning a campaign: which runs it has, which of them to launch, in which arrays.

``plan_campaign`` turns a request (tasks x seeds x agents x models, options, profile) into a
``Plan`` without launching anything: it checks every task's data and every agent's models,
asks Slurm what is still queued or running, applies the resubmission rule to each run's own
record (campaign.relaunch), and groups what is left into arrays that a partition can hold.
``launch`` sends a plan. The CLI's ``submit`` only parses, prints and calls these two.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PrerequisiteError
from ..paths import ResultsRoot
from ..runrecord import RunConfig, RunOptions
from ..taskspec import TaskSpec
from .campaign import CampaignPaths, RunSpec, is_done, plan, run_state, write_manifest
from .jobs import JobSettings
from .profiles import ClusterProfile, default_profile, load_profile


@dataclass(frozen=True)
class CampaignRequest:
    """What the user asked ``submit`` for."""

    campaign: str
    tasks: list[TaskSpec]
    seeds: int
    agents: list[str]
    models: list[str | None]
    data_mode: str | None
    options: RunOptions
    results: Path
    data_root: Path
    profile_path: Path | None = None
    executor: str | None = None  # None: slurm where sbatch works, else local
    retry_failed: bool = False


@dataclass
class Plan:
    """A campaign's runs and what a submission would do with them."""

    request: CampaignRequest
    executor: str
    profile: ClusterProfile
    paths: CampaignPaths
    settings: JobSettings
    runs: list[RunSpec]
    todo: list[RunSpec]
    busy: set[str]
    arrays: list[Any]  # launch.submit.ArrayPlan
    notices: list[str] = field(default_factory=list)

    @property
    def n_done(self) -> int:
        return len(self.runs) - len(self.todo) - len(self.busy & {r.run_id for r in self.runs})


def plan_campaign(request: CampaignRequest) -> Plan:
    """The plan of a submission; PrerequisiteError (one line) when it could not run: bad
    seeds, missing data (every task listed), an unusable model or agent, a request no
    partition can hold. Writes nothing."""
    from ..runner import validate_config
    from ..sandbox import BwrapSandbox
    from .status import active_run_ids
    from .submit import (
        check_satisfiable,
        cluster_max_array_size,
        cluster_partitions,
        group_arrays,
        slurm_available,
    )

    if request.seeds < 1:
        raise PrerequisiteError("--seeds must be at least 1")
    notices = []
    profile = load_profile(request.profile_path) if request.profile_path else default_profile()
    executor = request.executor
    if executor is None:
        reason = slurm_available()
        executor = "slurm" if reason is None else "local"
        if reason is not None:
            notices.append(
                f"no Slurm here ({reason}): running the campaign on this machine with the "
                "local executor"
            )
    results = ResultsRoot(request.results.resolve())
    paths = CampaignPaths(results, request.campaign)
    runs = plan(
        request.campaign,
        request.tasks,
        list(range(request.seeds)),
        request.agents,
        request.models or [None],
        request.data_mode,
        request.options.smoke,
    )
    # every task's data must be ready before anything is submitted: compute nodes never download
    check_data(request.tasks, request.data_mode, request.data_root.resolve(), look_only=True)
    options = request.options
    if options.sandbox is None and executor != "slurm":
        options = options.updated(
            sandbox=None if BwrapSandbox.unavailable_reason() is None else "process"
        )
    settings = JobSettings(
        results=str(results.root),
        data_root=str(request.data_root.resolve()),
        options=options,
        max_attempts=profile.max_attempts,
        retry_failed=request.retry_failed,
    )
    for agent, model in {(r.agent, r.model) for r in runs}:
        task = request.tasks[0].id
        validate_config(RunConfig(task=task, agent=agent, model=model, options=options))
    busy = active_run_ids(paths) if executor == "slurm" else set()
    todo = [
        r
        for r in runs
        if r.run_id not in busy
        and not is_done(run_state(results, r.run_id), profile.max_attempts, request.retry_failed)
    ]
    max_array = cluster_max_array_size(profile) if executor == "slurm" else None
    arrays = group_arrays(todo, profile, settings, max_array)
    partitions = cluster_partitions() if executor == "slurm" else None
    if partitions is not None:
        check_satisfiable(arrays, partitions, profile)  # would pend forever: an error, dry or not
    return Plan(request, executor, profile, paths, settings, runs, todo, busy, arrays, notices)


def launch(
    plan_: Plan,
    parallel: int | None = None,
    on_done: Callable[[RunSpec, Any], None] | None = None,
) -> list[dict[str, Any]]:
    """Send a plan: the generated data its tasks need is made here first, the campaign's
    manifest written, then each array submitted (recorded the moment its sbatch returns).
    ``parallel`` (local executor): runs at a time, by default this machine's CPUs divided by
    the most CPUs a planned task asks for. Returns the submission records."""
    from ..taskspec import get_task
    from .submit import submit_arrays

    request = plan_.request
    check_data(request.tasks, request.data_mode, request.data_root.resolve(), look_only=False)
    profile_path = request.profile_path
    write_manifest(
        plan_.paths, plan_.runs, {"profile": str(profile_path.resolve()) if profile_path else None}
    )
    if parallel is None:
        widest = max((get_task(r.task).resources.cpus for r in plan_.todo), default=1)
        parallel = max(1, (os.cpu_count() or 1) // max(1, widest))
    return submit_arrays(
        plan_.arrays, plan_.executor, plan_.paths, plan_.settings, plan_.profile, on_done, parallel
    )


def check_data(
    tasks: list[TaskSpec], data_mode: str | None, data_root: Path, look_only: bool
) -> None:
    """Every task's data ready, or one error listing every task whose data is missing.

    ``look_only`` (planning, dry runs) makes and writes nothing: generated data counts as
    ready since it is made offline at launch; otherwise generated data is made here.
    """
    from ..data import dataset_dir, resolve_data, verify
    from ..errors import DataError

    missing = []
    for task in tasks:
        if not task.data.needs_preparation:
            continue
        if look_only:
            mode = data_mode or "real"
            if mode != "generated" and verify(dataset_dir(task, mode, data_root), full=False):
                missing.append(task.id)
            continue
        try:
            resolve_data(task, data_mode, data_root)
        except DataError:
            missing.append(task.id)
    if missing:
        raise PrerequisiteError(
            f"real data is not ready for {len(missing)} task(s): {', '.join(missing)}. On a "
            f"login node with internet run: mlab-hpc prepare --tasks {','.join(missing)} "
            f"--data-root {data_root} (or try them offline with --data generated)"
        )
