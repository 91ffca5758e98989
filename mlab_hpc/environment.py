"""The environment: executes the agent's actions, enforces the limits, records every step.

Each call to :meth:`Environment.execute` is one step: the action runs (errors become
observations), the workspace is snapshotted, and one line is appended to the run's step log
before the call returns, so a killed run loses at most the step in flight.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import jsonl
from .actions import REGISTRY, ActionContext, ActionError, ActionSpec, Outcome, TextModel, args_json
from .diskspace import DiskFull, append_record
from .errors import did_you_mean
from .paths import RunPaths
from .sandbox import Mount, Sandbox
from .snapshots import EditHistory, SnapshotStore
from .taskspec import ForbiddenPhrase, Limits
from .workspace import Workspace

log = logging.getLogger(__name__)

# Bounds of what one step records (characters). An observation longer than the cap is cut,
# and the cut is said in the observation itself, so the agent knows it saw only a part.
MAX_OBSERVATION_CHARS = 1_000_000
MAX_THOUGHT_CHARS = 200_000  # the agent's reasoning, as recorded in the trace
MAX_ARGS_CHARS = 200_000  # the arguments as JSON, as recorded in the trace
# After the deadline of act(), how long to wait for the agent before cutting the step.
AGENT_GRACE_S = 0.5


class AgentTimedOut(Exception):
    """The agent's own work (thinking, model calls) ran past the run's total time limit."""


def as_text(value: Any) -> str:
    """Any step field as valid Unicode text: None empty, non-strings as JSON (or repr).

    Undecodable bytes of file names (lone surrogates in Python) become U+FFFD.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError):
            value = repr(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def bounded(text: str, limit: int, what: str = "text") -> str:
    """``text`` cut to ``limit`` characters, with a visible note saying how much was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {what} cut at {limit} of {len(text)} characters ...]"

@dataclass
class ActionCall:
    """What an agent asks for: an action name, its arguments, and optionally its reasoning."""

    name: str
    args: Any = field(default_factory=dict)
    thought: str = ""


@dataclass
class StepRecord:
    """One completed step, as it is written to the step log and the steps table."""

    step: int
    action: str
    args: str
    thought: str
    observation: str
    started_at: float
    duration_s: float
    exit_code: int | None
    error_kind: str | None
    snapshot_id: str
    done: bool = False
    elapsed_s: float = 0.0  # the agent's time used when the step ended (resumes start from it)

    def to_row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StepRecord:
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]

    def coerced(self) -> StepRecord:
        """This record with every field of its schema type and size (what the trace stores)."""
        return replace(
            self,
            action=bounded(as_text(self.action), 1000, "action name"),
            args=bounded(as_text(self.args), MAX_ARGS_CHARS, "arguments"),
            thought=bounded(as_text(self.thought), MAX_THOUGHT_CHARS, "thought"),
            observation=bounded(as_text(self.observation), MAX_OBSERVATION_CHARS, "observation"),
            error_kind=None if self.error_kind is None else as_text(self.error_kind),
            exit_code=self.exit_code if isinstance(self.exit_code, int) else None,
            done=bool(self.done),
        )


def refuse_forbidden(name: str, args: Any, phrases: tuple[ForbiddenPhrase, ...]) -> None:
    """ActionError("forbidden") when the action's text contains every word of a phrase.

    The text is the action's name and its arguments as JSON (what the agent asked for, not its
    reasoning); the check ignores case, as the published one did ("stable" and "baseline").
    """
    text = f"{name} {args_json(args)}"
    for phrase in phrases:
        if phrase.matches(text):
            words = " and ".join(f'"{word}"' for word in phrase.words)
            raise ActionError(
                "forbidden",
                f"this action was refused and not run, because its text contains {words}. "
                f"{phrase.message} Nothing was changed; take another action.",
            )


def find_action(name: str, available: dict[str, ActionSpec]) -> ActionSpec:
    """The action an agent named, forgiving case and spacing; ActionError otherwise."""
    if name in available:
        return available[name]
    folded = {" ".join(k.lower().split()): v for k, v in available.items()}
    key = " ".join(str(name).lower().replace("_", " ").split())
    if key in folded:
        return folded[key]
    hint = did_you_mean(str(name), available, n=1)
    raise ActionError(
        "unknown_action", f"'{name}' is not an action.{hint} Valid actions: {', '.join(available)}"
    )


class Environment:
    """The actions, limits and records of one run."""

    def __init__(
        self,
        *,
        workspace: Workspace,
        sandbox: Sandbox,
        paths: RunPaths,
        limits: Limits,
        snapshots: SnapshotStore,
        start_step: int = 0,
        elapsed_s: float = 0.0,
        extra_mounts: list[Mount] | None = None,
        sandbox_env: dict[str, str] | None = None,
        edit_model: TextModel | None = None,
        fast_model: TextModel | None = None,
        fsync: bool = False,
        forbidden_phrases: tuple[ForbiddenPhrase, ...] = (),
        research_problem: str = "",
    ) -> None:
        self.research_problem = research_problem  # Reflection's context
        self.workspace = workspace
        self.sandbox = sandbox
        self.paths = paths
        self.limits = limits
        self.snapshots = snapshots
        self.steps_taken = start_step
        self._elapsed_before = elapsed_s
        self._t0 = time.monotonic()
        self.extra_mounts = extra_mounts or []
        self.sandbox_env = sandbox_env or {}
        self.edit_model = edit_model
        self.fast_model = fast_model
        self.forbidden_phrases = forbidden_phrases
        self.done = False
        self.last_overhead_s = 0.0
        self._log = jsonl.Appender(paths.steps_log, fsync=fsync)
        self.history = EditHistory(paths.edits_log, snapshots)
        self.actions = {name: spec for name, spec in REGISTRY.items()}

    # ------------------------------------------------------------------ limits
    @property
    def elapsed_s(self) -> float:
        """The agent's own time so far (across resumed attempts)."""
        return self._elapsed_before + (time.monotonic() - self._t0)

    @property
    def time_left_s(self) -> float:
        return self.limits.max_time_s - self.elapsed_s

    def stop_reason(self) -> str | None:
        """Why no further step may be taken ('final_answer', 'max_steps', 'max_time'), or None."""
        if self.done:
            return "final_answer"
        if self.steps_taken >= self.limits.max_steps:
            return "max_steps"
        if self.time_left_s <= 0:
            return "max_time"
        return None

    # ------------------------------------------------------------------ one step
    def execute(self, call: ActionCall) -> StepRecord:
        """Run one action as a step; never raises because of what the agent asked."""
        reason = self.stop_reason()
        if reason is not None:
            raise RuntimeError(f"no step may be taken after the run ended ({reason})")
        step = self.steps_taken + 1
        started = time.time()
        t0 = time.perf_counter()
        timeout = max(min(self.limits.action_timeout_s, self.time_left_s), 0.0)
        ctx = ActionContext(
            workspace=self.workspace,
            sandbox=self.sandbox,
            logs_dir=self.paths.action_logs,
            history=self.history,
            step=step,
            timeout_s=timeout,
            extra_mounts=self.extra_mounts,
            sandbox_env=self.sandbox_env,
            edit_model=self.edit_model,
            fast_model=self.fast_model,
            research_problem=self.research_problem,
        )
        name = as_text(call.name)
        action_s = 0.0
        try:
            refuse_forbidden(name, call.args, self.forbidden_phrases)
            spec = find_action(name, self.actions)
            name = spec.name
            bound = spec.bind(call.args)
            a0 = time.perf_counter()
            try:
                outcome = spec.fn(ctx, **bound)
            finally:
                action_s = time.perf_counter() - a0
        except ActionError as exc:
            outcome = Outcome(f"Error: {exc}", changed=[], error_kind=exc.kind)
        except (OSError, UnicodeError) as exc:  # e.g. a file vanished, a disk filled up
            outcome = Outcome(
                f"Error: {type(exc).__name__}: {exc}", changed=None, error_kind="os_error"
            )
        if outcome.changed is None or outcome.changed:
            over = self.workspace.over_quota()
            if over is not None:  # the files stay: the agent is told, and can delete them
                outcome.observation = f"{outcome.observation}\n\nError: {over}"
                outcome.error_kind = "quota"
        full: DiskFull | None = None
        try:
            snapshot_id = self.snapshots.take(step, outcome.changed)
        except DiskFull as exc:  # the step is recorded without its files, then the run ends
            full, snapshot_id = exc, self.snapshots.current_id
            outcome.observation = (
                f"{outcome.observation}\n\nError: the files of this step could not be stored "
                "(the results disk is full); the run ends here."
            )
            outcome.error_kind = "disk_full"
        note = self.snapshots.skipped_note()  # files too large to snapshot (snapshots.py)
        if note:
            outcome.observation = f"{outcome.observation}\n\nNote: {note}"
        record = StepRecord(
            step=step,
            action=name,
            args=args_json(call.args),
            thought=call.thought,  # type: ignore[arg-type]  # coerced below, whatever it is
            observation=outcome.observation,
            started_at=started,
            duration_s=time.perf_counter() - t0,
            exit_code=outcome.exit_code,
            error_kind=outcome.error_kind,
            snapshot_id=snapshot_id,
            done=outcome.done,
            elapsed_s=self.elapsed_s,
        ).coerced()
        self._log = append_record(
            self._log, record.to_row(), self.snapshots.reserve, self.paths.dir,
            f"recording step {step}",
        )
        self.steps_taken = step
        if full is not None:
            raise full
        self.done = outcome.done
        self.last_overhead_s = time.perf_counter() - t0 - action_s
        return record

    # ------------------------------------------------------------------ the agent's time
    def call_agent(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` (the agent's act()) under the run's deadline.

        The agent's thinking and model calls count against the total time limit as actions
        do: the call runs in a daemon thread, and when the time left runs out before it
        returns, AgentTimedOut is raised here (the thread is abandoned, never joined).
        Whatever ``fn`` raises in time is raised here unchanged.
        """
        box: dict[str, Any] = {}
        finished = threading.Event()

        def target() -> None:
            try:
                box["value"] = fn(*args)
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc
            finally:
                finished.set()

        thread = threading.Thread(target=target, name="agent-act", daemon=True)
        thread.start()
        if not finished.wait(max(self.time_left_s, 0.0) + AGENT_GRACE_S):
            raise AgentTimedOut(
                f"the agent was still choosing step {self.steps_taken + 1} when the run's "
                f"total time limit ({self.limits.max_time_s:g} s) ran out"
            )
        if "error" in box:
            raise box["error"]
        return box["value"]

    def record_cut(self, why: str, action: str = "(agent)") -> StepRecord:
        """Record the step in flight as cut by the total time limit (error_kind 'cut').

        Nothing of it ran in the workspace, so its snapshot is the last one (no new files).
        The step ends the run: ``done`` stays False, and the exit reason is max_time.
        """
        step = self.steps_taken + 1
        snapshot_id = self.snapshots.take(step, [])
        record = StepRecord(
            step=step,
            action=action,
            args="{}",
            thought="",
            observation=f"Cut: {why}.",
            started_at=time.time(),
            duration_s=0.0,
            exit_code=None,
            error_kind="cut",
            snapshot_id=snapshot_id,
            elapsed_s=self.elapsed_s,
        ).coerced()
        self._log.append(record.to_row())
        self.steps_taken = step
        return record

    def close(self) -> None:
        self._log.close()
        self.history.close()
        self.snapshots.close()


def read_steps(path: Path, bad: list[int] | None = None) -> list[StepRecord]:
    """The completed steps of a run's step log, each field of its schema type.

    Unreadable lines are skipped (with a warning) and their numbers appended to ``bad``.
    """
    return [StepRecord.from_row(r).coerced() for r in jsonl.read(path, bad)]
