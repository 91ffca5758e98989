"""Cluster profiles (slurm/profiles/*.toml): partitions per resource class and site settings.

A profile says how this project's runs become Slurm jobs at one site: which partition serves
CPU runs and which GPU runs, how GPUs are spelled in --gres, the account and QOS, the setup lines
every job runs first (``module load apptainer``), the margin added to each task's own time
limit, and how many attempts a preempted or timed-out run gets.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PrerequisiteError, TaskSpecError
from ..taskspec import _Reader


@dataclass(frozen=True)
class ResourceClass:
    """Where runs of one kind go: a partition, and how GPUs are requested there."""

    name: str
    partition: str | None = None
    gres: str = "gpu:{gpus}"  # the site's --gres spelling, {gpus} is the count
    constraint: str | None = None
    max_time_min: int | None = None  # the partition's wall-time limit


@dataclass(frozen=True)
class ClusterProfile:
    name: str
    classes: dict[str, ResourceClass]
    account: str | None = None
    qos: str | None = None
    setup: tuple[str, ...] = ()
    time_margin_min: int = 15  # setup and requeue latency on top of the agent's and grader's limits
    array_parallelism: int = 64
    max_attempts: int = 3
    signal_delay_s: int = 120  # Slurm's warning (USR2) before a time limit: time to checkpoint
    additional: dict[str, Any] = field(default_factory=dict)  # any other sbatch option
    path: Path | None = None
    max_array_size: int | None = None  # default: the cluster's MaxArraySize (scontrol)
    smoke_time_min: int = 30  # the wall-clock request of a --smoke run
    grade_time_min: int = 60  # the least a grading job asks for (else: grader timeout + margin)

    def resource_class(self, gpus: int) -> ResourceClass:
        """The class of a run that needs ``gpus`` GPUs."""
        name = "gpu" if gpus > 0 else "cpu"
        if name not in self.classes:
            where = self.path or "the profile"
            raise PrerequisiteError(
                f"{where}: a task needs a [classes.{name}] section (partition for "
                f"{'GPU' if gpus else 'CPU'} runs); add one"
            )
        return self.classes[name]


def load_profile(path: Path) -> ClusterProfile:
    """Load and validate a profile; errors name the file, the field and the fix."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PrerequisiteError(f"no cluster profile at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaskSpecError(path, "(syntax)", f"not valid TOML: {exc}") from None
    top = _Reader(path, raw, doc="docs/slurm.md")
    top.reject_unknown(
        {
            "name",
            "account",
            "qos",
            "setup",
            "time_margin_min",
            "array_parallelism",
            "max_attempts",
            "signal_delay_s",
            "max_array_size",
            "smoke_time_min",
            "grade_time_min",
            "classes",
            "sbatch",
        }
    )
    classes = {}
    for cname, table in top.get("classes", dict).items():
        if cname not in ("cpu", "gpu"):
            raise top.fail(f"classes.{cname}", "resource classes are 'cpu' and 'gpu'")
        if not isinstance(table, dict):
            raise top.fail(f"classes.{cname}", "must be a table")
        c = _Reader(path, table, prefix=f"classes.{cname}.", doc="docs/slurm.md")
        c.reject_unknown({"partition", "gres", "constraint", "max_time_min"})
        gres = c.get("gres", str, "gpu:{gpus}")
        if "{gpus}" not in gres:
            raise c.fail("gres", 'must contain {gpus}, e.g. "gpu:a100:{gpus}"')
        classes[cname] = ResourceClass(
            name=cname,
            partition=c.get("partition", str, None),
            gres=gres,
            constraint=c.get("constraint", str, None),
            max_time_min=c.positive("max_time_min", int, None) if "max_time_min" in table else None,
        )
    return ClusterProfile(
        name=top.get("name", str, path.stem),
        classes=classes,
        account=top.get("account", str, None),
        qos=top.get("qos", str, None),
        setup=top.strings("setup", []),
        time_margin_min=top.get("time_margin_min", int, 15),
        array_parallelism=top.positive("array_parallelism", int, 64),
        max_attempts=top.positive("max_attempts", int, 3),
        signal_delay_s=top.positive("signal_delay_s", int, 120),
        additional=top.get("sbatch", dict, {}),
        path=path,
        max_array_size=(
            top.positive("max_array_size", int, None) if "max_array_size" in raw else None
        ),
        smoke_time_min=top.positive("smoke_time_min", int, 30),
        grade_time_min=top.positive("grade_time_min", int, 60),
    )


def default_profile() -> ClusterProfile:
    """No profile given: the cluster's default partition for CPU runs, any GPU for GPU runs."""
    return ClusterProfile(
        name="default", classes={"cpu": ResourceClass("cpu"), "gpu": ResourceClass("gpu")}
    )
