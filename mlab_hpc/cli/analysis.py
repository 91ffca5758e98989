"""Analysis commands (report, sql, show, import-mlagentbench), registered on `main` by import."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import PrerequisiteError
from .base import Ctx, UsageError, main, pass_ctx

_campaign_option = click.option(
    "--campaign",
    "campaigns",
    multiple=True,
    help="Only this campaign (repeat for several; default: every campaign).",
)
_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    help="Read every run's Parquet file in place instead of the compacted cache.",
)


def _stdout_console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:  # pipes and files: do not wrap wide tables at 80 columns
        console = Console(highlight=False, width=250)
    return console


def _notice(message: str) -> None:
    click.echo(f"note: {message}", err=True)


@main.command()
@_campaign_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "json", "html"]),
    default="table",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write to (html: index.html and runs/; else report.txt, report.md or "
    "report.json). Default: print (html: ./report).",
)
@click.option(
    "--run-pages/--no-run-pages",
    default=True,
    show_default=True,
    help="html: a page for every run (steps, observations, diffs, LLM calls).",
)
@click.option(
    "--data",
    "data_kind",
    type=click.Choice(["real", "generated", "all"]),
    default="real",
    show_default=True,
    help="Which runs to show by the data they ran on (tasks without data count as real). "
    "Kinds are never pooled: with 'all', every cell is keyed by its kind.",
)
@click.option(
    "--include-smoke",
    is_flag=True,
    help="Show --smoke runs too (starters trained minimally: not results), in cells of their own.",
)
@click.option(
    "--mlab-compat",
    is_flag=True,
    help="Add the success rate as MLAgentBench's plot.py computes it (errored runs left out, "
    "its baseline constants), to compare a result with the paper.",
)
@_cache_option
@pass_ctx
def report(
    obj: Ctx,
    campaigns: tuple[str, ...],
    fmt: str,
    out: Path | None,
    run_pages: bool,
    data_kind: str,
    include_smoke: bool,
    mlab_compat: bool,
    no_cache: bool,
) -> None:
    """Success rates, improvements, human-relative scores, outcomes and costs, with intervals.

    Success and human-relative anchors come from the baseline agent's runs of the same kind
    present now (never frozen when a run was graded): a cell without baseline runs says
    "unknown" and counts its runs.
    """
    from ..analysis import connect
    from ..analysis.render import to_json, to_markdown, to_text
    from ..analysis.report import KindFilter, build_report

    con = connect(obj.results, campaigns, cache=not no_cache, notice=_notice)
    kinds = KindFilter(data_kind, include_smoke)
    built = build_report(con, obj.results, list(campaigns), kinds, mlab_compat)
    if built.meta["n_runs"] == 0:
        where = f" of campaign {', '.join(campaigns)}" if campaigns else ""
        hidden = built.meta["left_out"]
        if hidden["counts"]:
            n = sum(hidden["counts"].values())
            raise PrerequisiteError(
                f"no runs of the kind shown{where} ({kinds.data} data"
                + (", smoke included" if include_smoke else ", no smoke runs")
                + f"): {n} runs left out; show them with {' or '.join(hidden['show_with'])}"
            )
        raise PrerequisiteError(
            f"no runs{where} in {obj.results}/tables/runs: "
            "run one (mlab-hpc run --task cartpole --agent baseline) or pass --results DIR"
        )
    if fmt == "html":
        from ..analysis.html import write_html

        folder = out or Path("report")
        index = write_html(con, built, folder, run_pages=run_pages)
        click.echo(f"report written to {index}")
        return
    text = {"table": to_text, "markdown": to_markdown, "json": to_json}[fmt](built)
    if out is None:
        click.echo(text, nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    target = out / {"table": "report.txt", "markdown": "report.md", "json": "report.json"}[fmt]
    target.write_text(text)
    click.echo(f"report written to {target}")


@main.command()
@click.argument("query", required=False)
@click.option(
    "--file",
    "query_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the query from a file (e.g. analysis/queries/success_rate.sql).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "markdown", "parquet"]),
    default="table",
    show_default=True,
)
@click.option(
    "--out",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the result to this file (needed for parquet).",
)
@_campaign_option
@_cache_option
@pass_ctx
def sql(
    obj: Ctx,
    query: str | None,
    query_file: Path | None,
    fmt: str,
    output: Path | None,
    campaigns: tuple[str, ...],
    no_cache: bool,
) -> None:
    """Run a SQL query against the views (runs, steps, scores, llm_calls, run_outcomes, ...)."""
    from ..analysis import connect
    from ..analysis.sql import run_sql

    if query and query_file:
        raise UsageError("give a query or --file, not both")
    text = query_file.read_text() if query_file else (query or "")
    con = connect(obj.results, campaigns, cache=not no_cache, notice=_notice)
    printed = run_sql(con, text, fmt, output, console=_stdout_console())
    if printed is not None:
        click.echo(printed, nl=False)
    if output is not None:
        click.echo(f"written to {output}", err=True)


@main.command()
@click.argument("run_id")
@click.option("--full", is_flag=True, help="Whole observations and thoughts, not their heads.")
@pass_ctx
def show(obj: Ctx, run_id: str, full: bool) -> None:
    """One run step by step: action, arguments, observation, duration, score so far."""
    from ..analysis.show import show_run

    show_run(obj.results, run_id, _stdout_console(), full=full)


@main.command("import-mlagentbench")
@click.argument("eval_files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--logs",
    "logs_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder the paths in the eval files are relative to (default: as written, "
    "then relative to each eval file's folder).",
)
@click.option("--campaign", default="mlagentbench", show_default=True)
@click.option(
    "--baseline-agent",
    default="sanity_check",
    show_default=True,
    help="The experiment name of MLAgentBench's baseline agent (imported as 'baseline').",
)
@click.option(
    "--max-steps",
    default=50,
    show_default=True,
    help="MLAgentBench's step limit: a run without a final answer that reached it ended on "
    "max_steps, otherwise on max_time.",
)
@pass_ctx
def import_mlagentbench(
    obj: Ctx,
    eval_files: tuple[Path, ...],
    logs_dir: Path | None,
    campaign: str,
    baseline_agent: str,
    max_steps: int,
) -> None:
    """Import the original MLAgentBench's results (eval JSON + trace.json) into the tables."""
    from ..analysis.mlagentbench import import_results

    summary = import_results(
        list(eval_files),
        obj.results,
        campaign=campaign,
        logs_dir=logs_dir,
        baseline_agent=baseline_agent,
        max_steps=max_steps,
        warn=lambda m: click.echo(f"note: {m}", err=True),
    )
    click.echo(
        f"imported {summary.runs} runs ({summary.steps} steps, {summary.llm_calls} LLM calls) "
        f"into campaign {campaign} of {obj.results}"
    )
    if summary.runs == 0:
        sys.exit(1)
