"""Campaign commands: submit, status, cancel. Registered on the root group by import."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from .cli import Ctx, campaign_option, main, pass_ctx, run_options
from .errors import PrerequisiteError
from .runrecord import RunOptions


def _task_list(text: str) -> list[Any]:
    from .taskspec import select_tasks

    return select_tasks(text)


@main.command()
@click.option(
    "--tasks",
    "task_list",
    required=True,
    help="all, a group (mlab: MLAgentBench's 13 tasks, hr-mlab: the human-relative variant's "
    "15, mlrb: the ML Research Benchmark's, rl), or task ids and groups separated by commas.",
)
@click.option("--seeds", type=int, default=1, show_default=True, help="Seeds 0..N-1 per run.")
@click.option(
    "--agent",
    "agents",
    multiple=True,
    default=["baseline"],
    show_default=True,
    help="Agent (repeat for several).",
)
@click.option(
    "--model", "models", multiple=True, help="PROVIDER:NAME for LLM agents (repeat for several)."
)
@campaign_option(
    "Campaign name: its runs keep stable ids, so resubmitting adds only what is missing "
    "or failed."
)
@click.option(
    "--data",
    "data_mode",
    type=click.Choice(["real", "generated"]),
    default=None,
    help="Prepared real data (default), or each task's generated dataset.",
)
@click.option(
    "--profile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Cluster profile (slurm/profiles/*.toml).",
)
@click.option(
    "--executor",
    type=click.Choice(["slurm", "local", "debug"]),
    default=None,
    help="Default: slurm where sbatch works, else local (runs here, and waits).",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=None,
    help="local executor: runs at the same time (default: this machine's CPUs divided by the "
    "most CPUs a planned task asks for).",
)
@run_options
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also relaunch runs that ended by the agent's failure (agent_error, llm_error); "
    "runs that Slurm stopped are always relaunched (docs/slurm.md).",
)
@click.option(
    "--dry-run", is_flag=True, help="Show the plan (runs, arrays, resources); submit nothing."
)
@pass_ctx
def submit(
    obj: Ctx,
    task_list: str,
    seeds: int,
    agents: tuple[str, ...],
    models: tuple[str, ...],
    campaign: str,
    data_mode: str | None,
    profile: Path | None,
    executor: str | None,
    parallel: int | None,
    options: RunOptions,
    retry_failed: bool,
    dry_run: bool,
) -> None:
    """Plan a campaign (tasks x seeds x agents x models) and launch what is not done yet."""
    from .console import console
    from .launch.campaign import CampaignPaths, is_done, plan, run_state, write_manifest
    from .launch.jobs import JobSettings
    from .launch.profiles import default_profile, load_profile
    from .launch.status import active_run_ids
    from .launch.submit import (
        check_satisfiable,
        cluster_max_array_size,
        cluster_partitions,
        group_arrays,
        sbatch_parameters,
        slurm_available,
        submit_arrays,
    )
    from .paths import ResultsRoot
    from .runner import validate_config
    from .runrecord import RunConfig
    from .sandbox import BwrapSandbox
    from .taskspec import get_task

    if seeds < 1:
        raise PrerequisiteError("--seeds must be at least 1")
    tasks = _task_list(task_list)
    prof = load_profile(profile) if profile else default_profile()
    if executor is None:
        reason = slurm_available()
        executor = "slurm" if reason is None else "local"
        if reason is not None:
            console.print(
                f"[yellow]note:[/] no Slurm here ({reason}): running the campaign "
                "on this machine with the local executor"
            )
    results = ResultsRoot(obj.results.resolve())
    paths = CampaignPaths(results, campaign)
    runs = plan(
        campaign,
        tasks,
        list(range(seeds)),
        list(agents),
        list(models) or [None],
        data_mode,
        options.smoke,
    )
    # every task's data must be ready before anything is submitted: compute nodes never download
    _check_data(tasks, data_mode, obj.data_root.resolve(), dry_run)
    if options.sandbox is None and executor != "slurm":
        auto = None if BwrapSandbox.unavailable_reason() is None else "process"
        options = options.updated(sandbox=auto)
    settings = JobSettings(
        results=str(results.root),
        data_root=str(obj.data_root.resolve()),
        options=options,
        max_attempts=prof.max_attempts,
        retry_failed=retry_failed,
    )
    for agent, model in {(r.agent, r.model) for r in runs}:
        validate_config(RunConfig(task=tasks[0].id, agent=agent, model=model, options=options))
    busy = active_run_ids(paths) if executor == "slurm" else set()
    todo = [
        r
        for r in runs
        if r.run_id not in busy
        and not is_done(run_state(results, r.run_id), prof.max_attempts, retry_failed)
    ]
    max_array = cluster_max_array_size(prof) if executor == "slurm" else None
    arrays = group_arrays(todo, prof, settings, max_array)
    partitions = cluster_partitions() if executor == "slurm" else None
    if partitions is not None:
        check_satisfiable(arrays, partitions, prof)  # would pend forever: an error, dry or not
    console.print(
        f"campaign [bold]{campaign}[/]: {len(runs)} runs planned, "
        f"{len(runs) - len(todo) - len(busy & {r.run_id for r in runs})} already done, "
        f"{len(busy)} still queued or running, {len(todo)} to launch "
        f"({executor} executor, profile {prof.name})"
    )
    for a in arrays:
        params = sbatch_parameters(a, prof)
        console.print(
            f"  array {a.resource_class}: {len(a.runs)} runs, partition "
            f"{a.partition or '(default)'}, {a.cpus} CPU, {params['mem']}, "
            f"{params.get('gres', 'no GPU')}, {a.time_min} min"
        )
    if dry_run or not arrays:
        return
    write_manifest(paths, runs, {"profile": str(profile.resolve()) if profile else None})

    def on_done(spec: Any, outcome: Any) -> None:
        if isinstance(outcome, BaseException):
            console.print(f"  [red]{spec.run_id}: {type(outcome).__name__}: {outcome}[/]")
        else:
            console.print(
                f"  {spec.run_id}: {outcome.get('status')} "
                f"({outcome.get('exit_reason')}), score {outcome.get('final_score')}"
            )

    if parallel is None:
        import os

        widest = max((get_task(r.task).resources.cpus for r in todo), default=1)
        parallel = max(1, (os.cpu_count() or 1) // max(1, widest))
    sent = submit_arrays(arrays, executor, paths, settings, prof, on_done, parallel)
    if executor == "slurm":
        for record in sent:
            ids = record["job_ids"]
            if len(ids) == 1:
                console.print(f"  submitted job {ids[0]} ({record['resource_class']}, 1 run)")
                continue
            first = ids[0].split("_")[0] if ids else "-"
            console.print(
                f"  submitted array {first} ({record['resource_class']}, {len(ids)} runs)"
            )
        console.print(f"follow it with: mlab-hpc status --campaign {campaign}")


def _check_data(tasks: list[Any], data_mode: str | None, data_root: Path, dry_run: bool) -> None:
    """Every task's data ready (generated data made here), or one error listing every task
    whose data is missing. A dry run only looks: it makes and writes nothing."""
    from .data import dataset_dir, resolve_data, verify
    from .errors import DataError

    missing = []
    for task in tasks:
        if not task.data.needs_preparation:
            continue
        if dry_run:
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


@main.command()
@click.option("--campaign", default=None, help="One campaign (default: every campaign).")
@click.option(
    "--watch",
    is_flag=True,
    help="Refresh every 10 s until nothing can still change (nothing queued or running).",
)
@click.option("--runs", "show_runs", is_flag=True, help="One line per run, not per task.")
@click.option(
    "--read-only",
    is_flag=True,
    help="Only read: send no grading job for runs that Slurm ended ungraded ('to grade').",
)
@click.option(
    "--profile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Cluster profile for grading jobs (default: the one the campaign was submitted with).",
)
@pass_ctx
def status(
    obj: Ctx,
    campaign: str | None,
    watch: bool,
    show_runs: bool,
    read_only: bool,
    profile: Path | None,
) -> None:
    """Per task: pending / running / completed / failed / timeout, with Slurm job ids.

    It grades nothing itself: runs that Slurm ended ungraded (time limit, cancel, node
    failure, out of memory) are graded by a grading job on a compute node of their resource
    class, which it submits once per ending and announces on stderr (docs/slurm.md).
    """
    # no rich console here: mlab_hpc.console loads the harness, and status loads no grader
    # (the table goes to stdout, grading notices to stderr)
    from .launch.campaign import CampaignPaths
    from .launch.profiles import load_profile
    from .launch.status import LIVE, reconcile
    from .paths import ResultsRoot

    prof = load_profile(profile) if profile else None

    results = ResultsRoot(obj.results)
    root = results.root / "campaigns"
    names = (
        [campaign] if campaign else sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    )
    if not names:
        raise PrerequisiteError(f"no campaign in {root}: start one with mlab-hpc submit")
    while True:
        live = 0
        for name in names:
            rows = reconcile(
                CampaignPaths(results, name),
                prof,
                notify=lambda text: click.echo(text, err=True),
                submit=not read_only,
            )
            if not rows:
                raise PrerequisiteError(f"no campaign '{name}' in {root}")
            click.echo(f"campaign {name}: {len(rows)} runs")
            if show_runs:
                for r in rows:
                    click.echo(
                        f"  {r.run_id:<50} {r.status:<12} job {r.job_id or '-':<12} "
                        f"{r.exit_reason or ''} {'' if r.final_score is None else r.final_score}"
                    )
            else:
                by_task: dict[str, dict[str, int]] = {}
                jobs: dict[str, set[str]] = {}
                for r in rows:
                    by_task.setdefault(r.task, {}).setdefault(r.status, 0)
                    by_task[r.task][r.status] += 1
                    if r.job_id:
                        jobs.setdefault(r.task, set()).add(r.job_id.split("_")[0])
                for task, counts in sorted(by_task.items()):
                    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                    job_list = ",".join(sorted(jobs.get(task, set()))) or "-"
                    click.echo(f"  {task:<20} {parts}   jobs {job_list}")
            live += sum(r.status in LIVE for r in rows)
        if not watch or live == 0:
            return
        time.sleep(10)


@main.command()
@click.option(
    "--campaign", required=True, help="The campaign whose queued and running jobs to cancel."
)
@pass_ctx
def cancel(obj: Ctx, campaign: str) -> None:
    """Cancel a campaign's queued and running jobs (scancel)."""
    from .launch.campaign import CampaignPaths
    from .launch.status import cancel as do_cancel
    from .paths import ResultsRoot

    cancelled = do_cancel(CampaignPaths(ResultsRoot(obj.results), campaign))
    click.echo(
        f"cancelled {len(cancelled)} job(s)" + (f": {' '.join(cancelled)}" if cancelled else "")
    )
