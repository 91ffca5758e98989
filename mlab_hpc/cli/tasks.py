"""The tasks and their data: ``tasks list``, ``tasks show``, ``prepare``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from ..runrecord import DATA_MODES
from .base import Ctx, main, pass_ctx


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

    from ..taskspec import all_tasks

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
    from ..taskspec import get_task

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
    type=click.Choice(DATA_MODES),
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
    from ..data import dataset_dir
    from ..data import prepare as do_prepare
    from ..data import verify as do_verify
    from ..taskspec import select_tasks

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
            from ..checksums import record

            path, added = record(task, obj.data_root)
            click.echo(f"{task.id}: {len(added)} new sha256 in {path}")
            for line in added:
                click.echo(f"  {line}")
    if failed:
        sys.exit(1)
