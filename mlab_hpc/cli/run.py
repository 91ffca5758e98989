"""Running one agent here: ``run`` and ``recover``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import PrerequisiteError
from ..paths import ResultsRoot
from ..runrecord import DATA_MODES, RunConfig, RunOptions
from .base import (
    Ctx,
    UsageError,
    campaign_option,
    check_results_root,
    main,
    pass_ctx,
    run_options,
)


@main.command()
@click.option("--task", "task_id", required=True, help="Task id (see `mlab-hpc tasks list`).")
@click.option(
    "--agent",
    default="baseline",
    show_default=True,
    help="Agent name, or package.module:Class for your own.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--data",
    "data_mode",
    type=click.Choice(DATA_MODES),
    default=None,
    help="Prepared real data (default), or the task's small generated dataset.",
)
@campaign_option("Campaign name, a partition of the result tables.")
@click.option(
    "--model",
    "--llm",
    "model",
    default=None,
    metavar="PROVIDER:NAME",
    help="The agent's model: openai:NAME, anthropic:NAME or replay:RUN_DIR (a recorded run's "
    "folder, or its trace/llm_calls.jsonl); a bare gpt-*/claude-* name gets its provider.",
)
@run_options
@click.option(
    "--json", "as_json", is_flag=True, help="Print the graded run's row as JSON (for scripts)."
)
@pass_ctx
def run(
    obj: Ctx,
    task_id: str,
    agent: str,
    seed: int,
    data_mode: str | None,
    campaign: str,
    model: str | None,
    options: RunOptions,
    as_json: bool,
) -> None:
    """Run one agent on one task here, grade it, and write its rows to the result tables.

    Progress goes to stderr; the run's outcome (a summary, or one JSON object with --json)
    to stdout."""
    from ..console import ConsoleProgress, console
    from ..runner import Unrecoverable, abandoned_runs, finalize_run, recover_run, start_run

    progress = ConsoleProgress()
    check_results_root(obj.results)
    results = ResultsRoot(obj.results)
    for stale in abandoned_runs(results):
        progress.notice(f"recovering run {stale.run_id}, whose process ended before grading")
        try:
            recover_run(stale, progress)
        except Unrecoverable as exc:  # never blocks this run
            progress.notice(str(exc))
    config = RunConfig(
        task=task_id,
        agent=agent,
        seed=seed,
        campaign=campaign,
        results=str(obj.results),
        data_root=str(obj.data_root),
        data_mode=data_mode,
        model=model,
        options=options,
    )
    paths = start_run(config, progress)
    console.print("[bold]grading[/] every snapshot ...")
    finalize_run(paths, progress)
    _print_outcome(_outcome(obj.results, paths.run_id), paths.dir, obj.results, as_json)


def _print_outcome(row: dict[str, Any], run_dir: Path, results: Path, as_json: bool) -> None:
    from ..console import print_summary

    if as_json:
        click.echo(json.dumps({**row, "run_dir": str(run_dir)}, default=str))
    else:
        print_summary(row, run_dir, results)


@main.command()
@click.argument("run_ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every run whose process died before grading.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per recovered run.")
@pass_ctx
def recover(obj: Ctx, run_ids: tuple[str, ...], all_: bool, as_json: bool) -> None:
    """Grade and table runs whose process was killed, from the steps they recorded."""
    from ..console import ConsoleProgress
    from ..runner import Unrecoverable, abandoned_runs, recover_run

    results = ResultsRoot(obj.results)
    if not run_ids and not all_:
        raise UsageError("nothing to recover: give run ids or --all")
    targets = abandoned_runs(results) if all_ else [results.run(r) for r in run_ids]
    if not targets:
        click.echo(f"nothing to recover in {obj.results}: no run ended before grading", err=True)
        return
    progress = ConsoleProgress()
    failed: list[str] = []
    for paths in targets:
        if not paths.state.is_file():
            raise PrerequisiteError(f"no run {paths.run_id} in {results.runs_dir}")
        try:
            recover_run(paths, progress)
        except Unrecoverable as exc:  # the others are still recovered
            progress.notice(str(exc))
            failed.append(paths.run_id)
            continue
        _print_outcome(_outcome(obj.results, paths.run_id), paths.dir, obj.results, as_json)
    if failed and not all_:
        raise PrerequisiteError(f"{len(failed)} run(s) unrecoverable: {', '.join(failed)}")


def _outcome(results: Path, run_id: str) -> dict[str, Any]:
    """A graded run's row with its anchors as they stand now (the analysis views)."""
    from ..analysis.db import run_outcome

    row = run_outcome(results, run_id)
    if row is None:
        raise PrerequisiteError(f"run {run_id} has no row in {results}/tables/runs")
    return row
