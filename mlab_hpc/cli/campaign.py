"""Campaign commands: submit, status, cancel. Registered on the root group by import."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..errors import PrerequisiteError, UnknownNameError
from ..runrecord import DATA_MODES, EXECUTORS, RunOptions
from ..text import plural
from .base import Ctx, campaign_option, main, pass_ctx, run_options


def _task_list(text: str) -> list[Any]:
    from ..taskspec import select_tasks

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
    type=click.Choice(DATA_MODES),
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
    type=click.Choice(EXECUTORS),
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
    """Plan a campaign (tasks x seeds x agents x models) and launch what is not done yet.

    The plan (runs, arrays, resources) goes to stdout; notes and progress to stderr."""
    from ..console import console
    from ..launch.plan import CampaignRequest, launch, plan_campaign
    from ..launch.submit import sbatch_parameters

    request = CampaignRequest(
        campaign=campaign,
        tasks=_task_list(task_list),
        seeds=seeds,
        agents=list(agents),
        models=list(models) or [None],
        data_mode=data_mode,
        options=options,
        results=obj.results,
        data_root=obj.data_root,
        profile_path=profile,
        executor=executor,
        retry_failed=retry_failed,
    )
    plan = plan_campaign(request)
    for notice in plan.notices:
        console.print(f"[yellow]note:[/] {notice}")
    click.echo(
        f"campaign {campaign}: {plural(len(plan.runs), 'run')} planned, "
        f"{plan.n_done} already done, "
        f"{len(plan.busy)} still queued or running, {len(plan.todo)} to launch "
        f"({plan.executor} executor, profile {plan.profile.name})"
    )
    for a in plan.arrays:
        params = sbatch_parameters(a, plan.profile)
        click.echo(
            f"  array {a.resource_class}: {len(a.runs)} runs, partition "
            f"{a.partition or '(default)'}, {a.cpus} CPU, {params['mem']}, "
            f"{params.get('gres', 'no GPU')}, {a.time_min} min"
        )
    if dry_run or not plan.arrays:
        return

    def on_done(spec: Any, outcome: Any) -> None:
        if isinstance(outcome, BaseException):
            console.print(f"  [red]{spec.run_id}: {type(outcome).__name__}: {outcome}[/]")
        else:
            console.print(
                f"  {spec.run_id}: {outcome.get('status')} "
                f"({outcome.get('exit_reason')}), score {outcome.get('final_score')}"
            )

    sent = launch(plan, parallel, on_done)
    if plan.executor == "slurm":
        for record in sent:
            ids = record["job_ids"]
            if len(ids) == 1:
                click.echo(f"  submitted job {ids[0]} ({record['resource_class']}, 1 run)")
                continue
            first = ids[0].split("_")[0] if ids else "-"
            click.echo(f"  submitted array {first} ({record['resource_class']}, {len(ids)} runs)")
        console.print(f"follow it with: mlab-hpc status --campaign {campaign}")


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
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per run (for scripts), not a table."
)
@pass_ctx
def status(
    obj: Ctx,
    campaign: str | None,
    watch: bool,
    show_runs: bool,
    read_only: bool,
    profile: Path | None,
    as_json: bool,
) -> None:
    """Per task: pending / running / completed / failed / timeout, with Slurm job ids.

    It grades nothing itself: runs that Slurm ended ungraded (time limit, cancel, node
    failure, out of memory) are graded by a grading job on a compute node of their resource
    class, which it submits once per ending and announces on stderr (docs/slurm.md).
    """
    # no rich console here: mlab_hpc.console loads the harness, and status loads no grader
    # (the table goes to stdout, grading notices to stderr)
    from ..launch.campaign import CampaignPaths
    from ..launch.profiles import load_profile
    from ..launch.status import LIVE, reconcile
    from ..paths import ResultsRoot

    prof = load_profile(profile) if profile else None

    results = ResultsRoot(obj.results)
    names = [campaign] if campaign else _campaigns(results)
    if campaign:
        _check_campaign_exists(results, campaign)
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
                raise PrerequisiteError(f"campaign '{name}' has no runs in {results.campaigns_dir}")
            if as_json:
                for r in rows:
                    fields = {k: v for k, v in asdict(r).items() if k != "to_grade"}
                    click.echo(json.dumps({"campaign": name, **fields}))
            elif show_runs:
                click.echo(f"campaign {name}: {plural(len(rows), 'run')}")
                for r in rows:
                    score = "" if r.final_score is None else f"{r.final_score:.4g}"
                    click.echo(
                        f"  {r.run_id:<50} {r.status:<12} job {r.job_id or '-':<12} "
                        f"{r.exit_reason or ''} {score}"
                    )
            else:
                click.echo(f"campaign {name}: {plural(len(rows), 'run')}")
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
    from ..launch.campaign import CampaignPaths
    from ..launch.status import cancel as do_cancel
    from ..paths import ResultsRoot

    results = ResultsRoot(obj.results)
    _check_campaign_exists(results, campaign)
    cancelled = do_cancel(CampaignPaths(results, campaign))
    click.echo(
        f"cancelled {len(cancelled)} job(s)" + (f": {' '.join(cancelled)}" if cancelled else "")
    )


def _campaigns(results: Any) -> list[str]:
    """The campaigns of a results root; a one-line error when it has none."""
    root = results.campaigns_dir
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not names:
        raise PrerequisiteError(f"no campaign in {root}: start one with mlab-hpc submit")
    return names


def _check_campaign_exists(results: Any, campaign: str) -> None:
    """UnknownNameError (exit 2, with the closest names) for a campaign never submitted."""
    if not (results.campaigns_dir / campaign).is_dir():
        known = _campaigns(results)
        raise UnknownNameError("campaign", campaign, known, where=f"in {results.campaigns_dir}")
