"""What every command shares: the root group ``main``, its context (the results and data roots),
one-line errors and exit codes, and the options ``run`` and ``submit`` share."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click

from ..errors import MlabError, PrerequisiteError, TaskSpecError, UnknownNameError
from ..paths import default_data_root, default_results_root
from ..runrecord import DEFAULT_CAMPAIGN, OPTION_NAMES, RunOptions


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


# --------------------------------------------------------------------------- shared options
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
