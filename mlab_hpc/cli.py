"""The command line: thin shims over the library. ``mlab-hpc --help`` lists the commands."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .errors import MlabError, PrerequisiteError, TaskSpecError, UnknownNameError
from .paths import ResultsRoot, default_data_root, default_results_root
from .runrecord import DEFAULT_CAMPAIGN, RunConfig, RunOptions


@dataclass
class Ctx:
    results: Path
    data_root: Path


pass_ctx = click.make_pass_decorator(Ctx)


class UsageError(click.ClickException):
    """A one-line error about what the command was given (exit 2, as click's own)."""

    exit_code = 2


def _set_root(attr: str) -> Callable[[click.Context, click.Parameter, Path | None], None]:
    def apply(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
        if value is not None:
            setattr(ctx.find_object(Ctx), attr, value.resolve())

    return apply


def root_options() -> list[click.Option]:
    """``--results`` and ``--data-root`` as options of a command: given after the command's
    name they win over the same options before it and over the environment."""
    return [
        click.Option(
            ["--results"],
            type=click.Path(path_type=Path),
            default=None,
            expose_value=False,
            callback=_set_root("results"),
            help="Results root (also before the command; env MLAB_RESULTS; default ./results).",
        ),
        click.Option(
            ["--data-root"],
            type=click.Path(path_type=Path),
            default=None,
            expose_value=False,
            callback=_set_root("data_root"),
            help="Prepared data root (also before the command; env MLAB_DATA; "
            "default ~/.cache/mlab-hpc/data).",
        ),
    ]


class Group(click.Group):
    """Every command takes the roots (``root_options``); mlab-hpc's own errors are one line:
    exit 2 for what the command was given (an unknown name, a bad value), 1 for the rest."""

    group_class = type  # subgroups are Groups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group):
            cmd.params.extend(root_options())
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except UnknownNameError as exc:
            raise UsageError(str(exc)) from None
        except PrerequisiteError as exc:
            raise click.ClickException(str(exc)) from None
        except MlabError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None


@click.group(cls=Group)
@click.option(
    "--results",
    type=click.Path(path_type=Path),
    envvar="MLAB_RESULTS",
    default=None,
    help="Results root (default ./results; env MLAB_RESULTS).",
)
@click.option(
    "--data-root",
    type=click.Path(path_type=Path),
    envvar="MLAB_DATA",
    default=None,
    help="Prepared data root (default ~/.cache/mlab-hpc/data; env MLAB_DATA).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log the harness's internals.")
@click.version_option(package_name="mlab-hpc")
@click.pass_context
def main(ctx: click.Context, results: Path | None, data_root: Path | None, verbose: bool) -> None:
    """Benchmark AI research agents on machine-learning tasks, locally or on Slurm."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # absolute from here on: run folders, graders and jobs on other nodes must not depend on
    # the directory the command was started in
    ctx.obj = Ctx(
        (results or default_results_root()).resolve(), (data_root or default_data_root()).resolve()
    )


# --------------------------------------------------------------------------- run
def campaign_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--campaign",
        default=DEFAULT_CAMPAIGN,
        show_default=True,
        callback=lambda c, p, v: check_campaign(v),
        help=help_text,
    )


def run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every field of RunOptions (runrecord.py) as an option; the command gets them as one
    validated value, ``options``. ``run`` and ``submit`` both use it, so a new run option is
    one field of that dataclass and nothing else.

    A value RunOptions refuses (NaN limit, temperature out of range, ...) is a usage error.
    API keys are read from OPENAI_API_KEY / ANTHROPIC_API_KEY only, never from an option.
    """
    from dataclasses import fields

    from .runrecord import OPTION_NAMES, RunOptions

    @functools.wraps(fn)
    def collect(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in OPTION_NAMES}
        try:
            options = RunOptions(**values)
        except TaskSpecError as exc:  # a limit: named as the user wrote it
            decl = next(f.metadata["cli"][0][0] for f in fields(RunOptions) if f.name == exc.field)
            raise UsageError(f"{decl} {exc.problem}") from None
        except PrerequisiteError as exc:
            raise UsageError(str(exc)) from None
        return fn(*args, options=options, **kwargs)

    for f in reversed(fields(RunOptions)):
        decls, click_kwargs = f.metadata["cli"]
        collect = click.option(*decls, f.name, default=f.default, **click_kwargs)(collect)
    return collect


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
    type=click.Choice(["real", "generated"]),
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
    help="The agent's model: openai:NAME, anthropic:NAME or replay:FILE "
    "(a bare gpt-*/claude-* name gets its provider).",
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
    from .console import ConsoleProgress, console
    from .runner import Unrecoverable, abandoned_runs, finalize_run, recover_run, start_run

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
    from .console import print_summary

    if as_json:
        click.echo(json.dumps({**row, "run_dir": str(run_dir)}, default=str))
    else:
        print_summary(row, run_dir, results)


def check_results_root(root: Path) -> None:
    """PrerequisiteError in one line unless a run can write its files under ``root``."""
    import errno
    import os

    probe = root / f".write-probe-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"\0" * 65536)
        probe.unlink()
    except OSError as exc:
        if probe.parent.is_dir():
            probe.unlink(missing_ok=True)
        fix = (
            "free some space there, or give another folder with --results or MLAB_RESULTS"
            if exc.errno in (errno.ENOSPC, errno.EDQUOT)
            else "give a writable folder with --results or MLAB_RESULTS"
        )
        raise PrerequisiteError(
            f"the results root {root} is not writable ({exc.strerror or exc}): {fix}"
        ) from None


def check_campaign(name: str) -> str:
    """A campaign name usable as one folder of the result tables; else a usage error."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]*", name or "") or ".." in name:
        raise click.BadParameter(
            f"{name!r} is not a campaign name: use letters, digits and _ . = + - "
            "(no '/', no '..', not empty)"
        )
    return name


@main.command()
@click.argument("run_ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every run whose process died before grading.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per recovered run.")
@pass_ctx
def recover(obj: Ctx, run_ids: tuple[str, ...], all_: bool, as_json: bool) -> None:
    """Grade and table runs whose process was killed, from the steps they recorded."""
    from .console import ConsoleProgress
    from .runner import Unrecoverable, abandoned_runs, recover_run

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
    from .analysis.db import run_outcome

    row = run_outcome(results, run_id)
    if row is None:
        raise PrerequisiteError(f"run {run_id} has no row in {results}/tables/runs")
    return row


# --------------------------------------------------------------------------- tasks
@main.group()
def tasks() -> None:
    """List and inspect the tasks."""


@tasks.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def tasks_list(as_json: bool) -> None:
    """Every task with its metric, direction, GPU need and data source."""
    from rich.console import Console
    from rich.table import Table

    from .taskspec import all_tasks

    rows = [t.summary() for t in all_tasks()]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    table = Table(box=None, pad_edge=False)
    for name in ("id", "metric", "better", "gpus", "data", "steps", "time (s)"):
        table.add_column(name, no_wrap=True)
    table.add_column("title", overflow="ellipsis", no_wrap=True)
    for r in rows:
        table.add_row(
            r["id"],
            r["metric"],
            r["direction"],
            str(r["gpus"]),
            r["data_source"],
            str(r["max_steps"]),
            f"{r['max_time_s']:.0f}",
            r["title"],
        )
    out = Console()
    if not out.is_terminal:
        out = Console(width=200)  # piped: whole lines, not an 80-column wrap
    out.print(table)


@tasks.command("show")
@click.argument("task_id")
def tasks_show(task_id: str) -> None:
    """One task in full: limits, scoring anchors, data, research problem."""
    from .taskspec import get_task

    t = get_task(task_id)
    hr = t.human_relative
    click.echo(
        f"{t.id} v{t.version}: {t.title}\n"
        f"  folder       {t.root}\n"
        f"  deliverable  {t.deliverable}   environment {t.environment}\n"
        f"  metric       {t.metric.name} ({t.metric.direction} is better)\n"
        f"  human-rel.   {hr.metric}: normalise {hr.normalize.expression!r}, "
        f"naive {hr.naive!r}, human {hr.human!r}\n"
        f"  limits       {t.limits.max_steps} steps, {t.limits.max_time_s:.0f} s total, "
        f"{t.limits.action_timeout_s:.0f} s per action\n"
        f"  resources    {t.resources.gpus} GPU, {t.resources.cpus} CPU, "
        f"{t.resources.mem_gb:g} GB\n"
        f"  data         {t.data.source} {t.data.options or ''}".rstrip()
        + "\n"
        + "".join(
            f"                 {f.url}"
            + (f" (sha256 {f.sha256[:12]}…)" if f.sha256 else f" (md5 {f.md5})" if f.md5 else "")
            + "\n"
            for f in t.data.files
        )
        + f"  starter      {t.starter}\n"
        f"  read-only    {', '.join(t.read_only) or '-'}\n\n"
        f"Research problem:\n{t.research_problem}"
    )


# --------------------------------------------------------------------------- data
@main.command()
@click.option(
    "--tasks",
    "task_list",
    required=True,
    help="all, a group (mlab, hr-mlab, mlrb, rl), or ids and groups separated by commas.",
)
@click.option(
    "--data",
    "mode",
    type=click.Choice(["real", "generated"]),
    default="real",
    show_default=True,
    help="Download the real data, or make the generated dataset.",
)
@click.option(
    "--from",
    "from_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Air-gapped sites: a dataset prepared elsewhere (a folder with MANIFEST.json, "
    "verified file by file), or the source's files as downloaded elsewhere. With several "
    "tasks, DIR/<task id> is used where it exists.",
)
@click.option("--verify", is_flag=True, help="Only check prepared data against its manifest.")
@click.option("--force", is_flag=True, help="Prepare again even when the data verifies.")
@click.option(
    "--record-checksums",
    is_flag=True,
    help="After preparing real data, write the sha256 of every downloaded file into the "
    "task's checksums.toml (pins for later downloads; docs/task-format.md).",
)
@pass_ctx
def prepare(
    obj: Ctx,
    task_list: str,
    mode: str,
    from_dir: Path | None,
    verify: bool,
    force: bool,
    record_checksums: bool,
) -> None:
    """Download and split task data once (on a login node), with a checksummed manifest."""
    from .data import dataset_dir
    from .data import prepare as do_prepare
    from .data import verify as do_verify
    from .taskspec import select_tasks

    if record_checksums and (mode != "real" or verify):
        raise click.UsageError(
            "--record-checksums records a real download: not with --verify or --data generated"
        )
    chosen = select_tasks(task_list)
    logging.getLogger("mlab_hpc.data").setLevel(logging.INFO)  # download progress
    failed = 0
    for task in chosen:
        if not task.data.needs_preparation:
            click.echo(f"{task.id}: no data to prepare")
            continue
        if verify:
            problems = do_verify(dataset_dir(task, mode, obj.data_root))
            click.echo(f"{task.id}: " + ("verified" if not problems else problems[0]))
            failed += bool(problems)
            continue
        source = from_dir
        if from_dir is not None and (from_dir / task.id).is_dir():
            source = from_dir / task.id
        prepared = do_prepare(task, mode, obj.data_root, from_dir=source, force=force)
        click.echo(f"{task.id}: {mode} data ready in {prepared.root}")
        if record_checksums:
            from .checksums import record

            path, added = record(task, obj.data_root)
            click.echo(f"{task.id}: {len(added)} new sha256 in {path}")
            for line in added:
                click.echo(f"  {line}")
    if failed:
        sys.exit(1)


# Command groups that live in modules of their own register themselves on `main` on import.
from . import cli_analysis, cli_campaign, cli_images, cli_models  # noqa: E402, F401
