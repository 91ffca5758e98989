"""`mlab-hpc eval-model`: grade a model directory produced elsewhere. Registered on `main` by
import (cli/__init__.py).

The model is graded as a run's final snapshot would be: copied into a fresh workspace as
output/, then the task's own grader (scripts/eval.py) runs in the sandbox with the task's
prepared answer key, and loads the model in its nested sandbox. Nothing is written to the
result tables: the command prints the grade (a table, or JSON with --json).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import click

from ..runrecord import DATA_MODES
from .base import Ctx, main, pass_ctx


@main.command("eval-model")
@click.option("--task", "task_id", required=True, help="A task whose deliverable is a model.")
@click.argument(
    "model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="PATH"
)
@click.option(
    "--data",
    "data_mode",
    type=click.Choice(DATA_MODES),
    default=None,
    help="The answer key of the prepared real data (default), or of the generated data.",
)
@click.option(
    "--sandbox",
    default=None,
    help="Where the grader runs: a sandbox backend (bwrap, process, apptainer); default bwrap "
    "if it works, else process.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the grade as one JSON object.")
@pass_ctx
def eval_model(
    obj: Ctx,
    task_id: str,
    model_dir: Path,
    data_mode: str | None,
    sandbox: str | None,
    as_json: bool,
) -> None:
    """Grade the model directory PATH (Hugging Face format, or a vision task's predict.py and
    weights) with TASK's grader."""
    from ..data import resolve_data
    from ..errors import PrerequisiteError
    from ..grading import run_grader
    from ..runner import sandbox_limits
    from ..sandbox import make_sandbox
    from ..taskspec import get_task

    task = get_task(task_id)
    if task.deliverable != "model":
        raise PrerequisiteError(
            f"task {task_id!r} delivers a {task.deliverable}, not a model: eval-model grades "
            'the tasks whose task.toml says deliverable = "model"'
        )
    if not any((model_dir / name).is_file() for name in ("config.json", "predict.py")):
        raise PrerequisiteError(
            f"{model_dir} has no config.json nor predict.py: give a Hugging Face model "
            "directory (save_pretrained's output) or a predictor folder (predict.py + weights)"
        )
    data = resolve_data(task, data_mode, obj.data_root)
    answers = data.private if data is not None else None
    box, warning = make_sandbox(sandbox, sandbox_limits(task))
    if warning:
        click.echo(f"warning: {warning}", err=True)
    scratch = Path(tempfile.mkdtemp(prefix="eval-model-"))
    try:
        workspace = scratch / "workspace"
        shutil.copytree(model_dir, workspace / "output", symlinks=False)
        grade = run_grader(task, box, workspace, answers, scratch / "grader")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    document = {
        "task": task.id,
        "model": str(model_dir.resolve()),
        "valid": grade.valid,
        "reason": grade.reason,
        "metric": task.metric.name,
        "score": grade.metric(task.metric.name),
        "metrics": grade.metrics,
        "grade_s": grade.grade_s,
    }
    if as_json:
        click.echo(json.dumps(document, indent=2))
        if not grade.valid:
            raise SystemExit(1)
        return
    click.echo(f"task      {task.id}")
    click.echo(f"model     {document['model']}")
    if not grade.valid:
        click.echo(f"invalid   {grade.reason}")
        raise SystemExit(1)
    if document["score"] is None and grade.reason:  # valid, the metric not measured: say why
        click.echo(f"score     {task.metric.name}: {grade.reason}")
    else:
        click.echo(f"score     {task.metric.name} = {document['score']}")
    for name, value in sorted(grade.metrics.items()):
        click.echo(f"  {name:<28} {value:.6g}")
    click.echo(f"graded in {grade.grade_s:.1f} s")
