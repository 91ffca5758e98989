"""The run record: what defines a run (``RunConfig``, with the user's ``RunOptions``) and what
happened to it (``RunState``), as typed, validated values.

run.json is read and written here only (``RunState.load`` / ``RunState.save``). Every other
module gets attributes, never string keys; a status or an exit reason is one of the literals
below, so a misspelling is a type error rather than a silently false comparison.

Adding a run option: one field of ``RunOptions``, with its command-line declaration in the
field's metadata (``option(...)``). ``run`` and ``submit`` take every field through one
decorator (cli/base.py, ``run_options``), ``submit`` hands the whole value to its jobs, and the run
reads it from ``config.options``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, get_args

from .errors import PrerequisiteError
from .paths import RunPaths
from .taskspec import Limits, check_limits

DEFAULT_CAMPAIGN = "main"  # of `run` and `submit` alike
DATA_MODES = ("real", "generated")  # what --data chooses: prepared real data or the generated set
EXECUTORS = ("slurm", "local", "debug")  # how `submit` launches (launch/submit.py)
SCHEMA_VERSION = 2  # 1: flat config, error as text (read and converted); 2: this module

Status = Literal["created", "running", "ended", "graded", "unrecoverable"]
ExitReason = Literal[
    "final_answer",
    "max_steps",
    "max_time",
    "agent_error",
    "llm_error",
    "replay_diverged",
    "max_tokens",
    "max_cost",
    "crashed",
    "slurm_timeout",
    "max_attempts",
    "cancelled",
    "node_fail",
    "out_of_memory",
    "disk_full",
]
STATUSES: tuple[str, ...] = get_args(Status)
EXIT_REASONS: tuple[str, ...] = get_args(ExitReason)


class RunRecordError(PrerequisiteError, ValueError):
    """A run.json that is valid JSON but not a run record this harness can read (no config,
    no status, an unknown status or config field). A ValueError too, so that scans over many
    runs (abandoned runs, the report's unfinished runs) skip it like a corrupt file."""


def option(default: Any, *decls: str, **click_kwargs: Any) -> Any:
    """A RunOptions field that is also a command-line option of ``run`` and ``submit``.

    ``decls`` are the option's names (``"--max-time"``); ``click_kwargs`` go to click.option
    (type, help, is_flag, envvar, ...).
    """
    return field(default=default, metadata={"cli": (decls, click_kwargs)})


@dataclass(frozen=True)
class RunOptions:
    """What the user chooses for a run beyond its task, agent, seed and model: the sandbox,
    overrides of the task's limits, smoke mode, and how the language models are called.

    Validated on construction: limits finite and positive, temperature in [0, 2], budgets
    positive. None means "the default" (the task's limit, the provider's temperature, ...).
    """

    sandbox: str | None = option(
        None, "--sandbox", help="Where the agent's commands run: bwrap, process or apptainer "
        "(default: bwrap if it works, else process).",
    )  # fmt: skip
    max_steps: int | None = option(
        None, "--max-steps", type=int, help="Override the task's step limit."
    )
    max_time_s: float | None = option(
        None, "--max-time", type=float,
        help="Override the task's total time limit (seconds of the agent's time).",
    )  # fmt: skip
    action_timeout_s: float | None = option(
        None, "--action-timeout", type=float,
        help="Override the task's per-action time limit (seconds).",
    )  # fmt: skip
    smoke: bool = option(
        False, "--smoke", is_flag=True,
        help="MLAB_SMOKE=1 for the agent's commands (never the grader's): starter scripts "
        "train minimally. With --data generated, a cheap end-to-end check before GPU hours; "
        "smoke runs are reported apart from real ones.",
    )  # fmt: skip
    fast_llm: str | None = option(
        None, "--fast-llm", metavar="PROVIDER:NAME",
        help="Model for summaries, Understand File and Reflection (default: --model).",
    )  # fmt: skip
    edit_llm: str | None = option(
        None, "--edit-llm", metavar="PROVIDER:NAME",
        help="Model for Edit Script (AI) (default: --model).",
    )  # fmt: skip
    base_url: str | None = option(
        None, "--base-url", envvar="OPENAI_BASE_URL",
        help="An OpenAI-compatible server (e.g. vLLM) for openai: models; env OPENAI_BASE_URL.",
    )  # fmt: skip
    temperature: float | None = option(
        None, "--temperature", type=float, help="Sampling temperature (0 to 2)."
    )
    max_tokens: int | None = option(
        None, "--max-tokens", type=int,
        help="Token budget of each run (prompt + completion); when spent, the run ends with "
        "status budget.",
    )  # fmt: skip
    max_cost: float | None = option(
        None, "--max-cost", type=float, help="Cost budget of each run, USD (docs/agents.md)."
    )

    def __post_init__(self) -> None:
        check_limits(self.max_steps, self.max_time_s, self.action_timeout_s, "run options")
        if self.temperature is not None and not (
            math.isfinite(self.temperature) and 0 <= self.temperature <= 2
        ):
            raise PrerequisiteError(f"--temperature must be in [0, 2], got {self.temperature}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise PrerequisiteError(f"--max-tokens must be at least 1, got {self.max_tokens}")
        if self.max_cost is not None and not (math.isfinite(self.max_cost) and self.max_cost > 0):
            raise PrerequisiteError(f"--max-cost must be above 0, got {self.max_cost}")

    def updated(self, **changes: Any) -> RunOptions:
        """These options with some changed (validated again)."""
        return replace(self, **changes)

    def limits(self, task_limits: Limits) -> Limits:
        """The task's limits with these overrides applied."""
        return Limits(
            max_steps=self.max_steps or task_limits.max_steps,
            max_time_s=self.max_time_s or task_limits.max_time_s,
            action_timeout_s=self.action_timeout_s or task_limits.action_timeout_s,
        )


OPTION_NAMES = tuple(f.name for f in fields(RunOptions))


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run: which task, agent, seed and model, where its results
    and data live, and the user's options. Stored in run.json, so a run can be resumed or
    finalised later by another process."""

    task: str
    agent: str = "baseline"
    seed: int = 0
    campaign: str = DEFAULT_CAMPAIGN
    results: str = "results"
    data_root: str = ""
    data_mode: str | None = None  # real | generated | none (None: real for tasks with data)
    model: str | None = None  # PROVIDER:NAME of the agent's model (--model / --llm)
    run_id: str | None = None
    options: RunOptions = field(default_factory=RunOptions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: object = "run.json") -> RunConfig:
        """A config as stored; run.json files of schema 1 (options beside the other fields)
        are read too. Unknown keys are an error naming the file."""
        data = dict(data)
        options = dict(data.pop("options", None) or {})
        for name in OPTION_NAMES:  # schema 1: flat
            if name in data:
                options[name] = data.pop(name)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known) + sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise RunRecordError(
                f"{where}: unknown config field(s) {', '.join(unknown)} (written by another "
                "version of mlab-hpc?)"
            )
        return cls(**data, options=RunOptions(**options))


@dataclass
class RunError:
    """Why a run ended badly: its kind (the exit reason), a one-line message, and the
    traceback or full text when there is one."""

    kind: str
    message: str
    detail: str | None = None

    @classmethod
    def of(cls, kind: str, text: str | None) -> RunError | None:
        if not text:
            return None
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        message = lines[-1].strip() if lines else text
        return cls(kind, message[:2000], text if len(lines) > 1 else None)

    def text(self) -> str:
        """The whole text, as the runs table's error column holds it."""
        return self.detail or self.message


@dataclass
class Attempt:
    """One process's go at the run: where it ran (node, Slurm job), from which step, what it
    used. Fields a newer harness adds are kept in ``extra``, so nothing is lost on rewrite."""

    started_at: float
    from_step: int = 0
    node: str | None = None
    slurm_job_id: str | None = None
    slurm_array_job_id: str | None = None
    slurm_array_index: int | None = None
    slurm_partition: str | None = None
    gpus_visible: str | None = None
    requested_cpus: int | None = None
    requested_mem_gb: float | None = None
    requested_gpus: int | None = None
    requested_time_min: int | None = None
    ended_at: float | None = None
    cpu_s: float | None = None
    max_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        known = {f.name for f in fields(cls)} - {"extra"}
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**{k: v for k, v in data.items() if k in known}, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {**data.pop("extra"), **data}

    def update(self, **values: Any) -> None:
        known = {f.name for f in fields(self)}
        for key, value in values.items():
            if key in known and key != "extra":
                setattr(self, key, value)
            else:
                self.extra[key] = value


@dataclass
class RunState:
    """run.json: the run's config and its lifecycle.

    created -> running -> ended -> graded; a run that cannot be finalised is unrecoverable.
    """

    config: RunConfig
    status: Status = "created"
    task_version: str = ""
    limits: Limits | None = None
    pid: int | None = None
    host: str | None = None
    started_at: float | None = None
    harness_version: str | None = None
    image_digest: str | None = None
    initial_snapshot: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    exit_reason: ExitReason | None = None
    error: RunError | None = None
    ended_at: float | None = None
    elapsed_s: float | None = None
    n_steps: int | None = None
    bad_trace_lines: int | None = None
    unrecoverable_reason: str | None = None
    marked_at: float | None = None
    grading_job: dict[str, Any] | None = None  # the Slurm job that graded it, when one did
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # fields of a newer harness, kept

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise RunRecordError(f"run.json: unknown status {self.status!r}")
        if self.exit_reason is not None and self.exit_reason not in EXIT_REASONS:
            raise RunRecordError(f"run.json: unknown exit reason {self.exit_reason!r}")

    # ----------------------------------------------------------------- lifecycle
    def end(self, exit_reason: ExitReason, error: str | None, **facts: Any) -> None:
        """Record the run's ending (status ``ended``): why, the error text, and the facts
        given (ended_at, elapsed_s, n_steps)."""
        self.status = "ended"
        self.exit_reason = exit_reason
        self.error = RunError.of(exit_reason, error)
        self.ended_at = facts.pop("ended_at", time.time())
        for key, value in facts.items():
            setattr(self, key, value)

    def reopen(self) -> None:
        """Back to ``running`` after an infrastructure ending: steps and attempts stay."""
        self.status = "running"
        self.exit_reason = self.error = self.ended_at = self.elapsed_s = self.n_steps = None

    @property
    def error_text(self) -> str | None:
        return self.error.text() if self.error else None

    # ----------------------------------------------------------------- storage
    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["config"] = self.config.to_dict()
        data["limits"] = asdict(self.limits) if self.limits else None
        data["attempts"] = [a.to_dict() for a in self.attempts]
        data["error"] = asdict(self.error) if self.error else None
        return {**data.pop("extra"), **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: object = "run.json") -> RunState:
        """A state as stored (schema 1 or 2). A run.json without config or status, or with a
        status, exit reason or config field this harness does not know, is a RunRecordError
        naming the file (never half read); other top-level fields (a newer harness's facts)
        are kept in ``extra`` and written back."""
        data = dict(data)
        for required in ("config", "status"):
            if required not in data:
                raise RunRecordError(f"{where}: no {required!r}: not a run.json of mlab-hpc")
        data["config"] = RunConfig.from_dict(data["config"], where)
        if data.get("limits") is not None:
            data["limits"] = Limits(**data["limits"])
        data["attempts"] = [Attempt.from_dict(a) for a in data.get("attempts") or []]
        error = data.get("error")
        if isinstance(error, str):  # schema 1: the text alone
            data["error"] = RunError.of(str(data.get("exit_reason") or "error"), error)
        elif isinstance(error, dict):
            data["error"] = RunError(**error)
        if "reason" in data:  # schema 1's name for why a run is unrecoverable
            data["unrecoverable_reason"] = data.pop("reason")
        data["schema_version"] = SCHEMA_VERSION
        known = {f.name for f in fields(cls)} - {"extra"}
        extra = {k: data.pop(k) for k in sorted(set(data) - known)}
        return cls(**data, extra=extra)

    @classmethod
    def load(cls, paths: RunPaths) -> RunState:
        """The run's state; OSError when run.json is missing, ValueError when it cannot be read
        as one (json's for a corrupt file, RunRecordError for a foreign or newer record)."""
        return cls.from_dict(json.loads(paths.state.read_text()), paths.state)

    @classmethod
    def load_if_any(cls, paths: RunPaths) -> RunState | None:
        """The run's state, or None when the run has not started (no run.json)."""
        try:
            return cls.load(paths)
        except FileNotFoundError:
            return None

    def save(self, paths: RunPaths) -> None:
        """Rewrite run.json atomically (a reader sees the old or the new file, never half)."""
        tmp = paths.state.with_name(".run.json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True))
        tmp.replace(paths.state)


__all__ = [
    "Attempt",
    "ExitReason",
    "RunConfig",
    "RunError",
    "RunOptions",
    "RunState",
    "Status",
    "option",
]

