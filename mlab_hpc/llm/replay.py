"""Replaying a run's recorded language-model calls: ``replay:<file>``.

``<file>`` is a run's ``trace/llm_calls.jsonl`` (or the run folder, or its ``trace`` folder).
Successful calls are played back in the order they were recorded, with their recorded model,
token counts and cost; failed attempts are skipped (their retries were recorded after them), and
so are the calls of a step that a killed attempt lost and its resumption made again.

A replay checks that it still follows the recording and ends the run ``replay_diverged``
(:class:`ReplayDiverged`) at the first difference: a call of another purpose or with another
prompt (durations such as the time left shown to an agent are ignored), a step whose action,
arguments or observation differ from the recorded step (a step that timed out, say), a run that
ends another way than the recording did (a limit reached earlier) or leaves recorded calls
unused, a run asking for more calls than were recorded, and a replay under another agent.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import jsonl
from ..errors import PrerequisiteError
from ..paths import RunPaths
from ..runrecord import RunState
from .base import Completion, LLMError, ReplayDiverged, Request
from .parsing import excerpt

if TYPE_CHECKING:
    from ..environment import StepRecord
    from .session import Models

_DURATION = re.compile(r"\b\d+ h \d+ min\b|\b\d+ min\b|less than a minute")

log = logging.getLogger(__name__)


def recording_file(spec: str) -> Path:
    """The JSON-lines file a ``replay:`` spec names (a file, a run folder, or its trace/)."""
    path = Path(spec).expanduser()
    for candidate in (path, path / "llm_calls.jsonl", path / "trace" / "llm_calls.jsonl"):
        if candidate.is_file():
            return candidate
    raise PrerequisiteError(
        f"replay:{spec}: no recording there (give a run's trace/llm_calls.jsonl or its folder)"
    )


class ReplayLLM:
    """Answers from a recording, one recorded call per request."""

    def __init__(self, spec: str) -> None:
        self.path = recording_file(spec)
        self.name = f"replay:{spec}"
        self.model = "replay"
        self._calls = _kept_calls(list(jsonl.read(self.path)))
        self._next = 0
        self.prompt_mismatches = 0
        run_dir = self.path.parent.parent if self.path.parent.name == "trace" else None
        self._steps: dict[int, dict[str, Any]] = {}
        self._state: RunState | None = None  # the recorded run's ending and agent
        if run_dir is not None:
            for row in jsonl.read(RunPaths(run_dir).steps_log):
                self._steps[int(row.get("step") or 0)] = row
            try:
                self._state = RunState.load(RunPaths(run_dir))
            except (OSError, ValueError):
                self._state = None

    @property
    def remaining(self) -> int:
        return len(self._calls) - self._next

    def skip_to_step(self, completed_steps: int) -> None:
        """Start after the calls of the first ``completed_steps`` steps (a resumed replay)."""
        self._next = sum(1 for r in self._calls if int(r.get("step") or 0) <= completed_steps)

    def generate(self, request: Request) -> Completion:
        """The next recorded completion; ReplayDiverged when the run left the recording."""
        if self._next >= len(self._calls):
            if self._state and self._state.exit_reason == "llm_error":  # it ended so too
                raise LLMError(f"{self.name}: as recorded: {self._state.error_text}")
            raise ReplayDiverged(
                f"{self.name}: the run asked for call {self._next + 1} ({request.purpose}) "
                f"but the recording holds {len(self._calls)} successful calls"
            )
        row = self._calls[self._next]
        if row.get("purpose") != request.purpose:
            raise ReplayDiverged(
                f"{self.name}: the run diverged from the recording at call {self._next + 1}: "
                f"recorded purpose {row.get('purpose')!r}, asked for {request.purpose!r}"
            )
        recorded = str(row.get("prompt") or "")
        if recorded != request.prompt:
            if _DURATION.sub("<time>", recorded) != _DURATION.sub("<time>", request.prompt):
                raise ReplayDiverged(
                    f"{self.name}: the prompt of call {self._next + 1} ({request.purpose}, "
                    f"step {row.get('step')}) differs from the recording "
                    f"{_first_difference(recorded, request.prompt)}"
                )
            self.prompt_mismatches += 1
            log.info("replay call %d: only durations differ in the prompt", self._next + 1)
        self._next += 1
        return Completion(
            text=str(row["completion"]),
            model=str(row.get("model") or self.name),
            prompt_tokens=row.get("prompt_tokens"),
            completion_tokens=row.get("completion_tokens"),
            finish_reason=row.get("finish_reason"),
            cost_usd=row.get("cost_usd"),
        )

    def check_agent(self, agent: str) -> None:
        """ReplayDiverged when the recording was made by another agent."""
        recorded = self._state.config.agent if self._state else None
        if recorded and recorded != agent:
            raise ReplayDiverged(
                f"{self.name} was recorded by the agent {recorded!r}, not {agent!r}: replay it "
                f"with --agent {recorded}"
            )

    def check_step(self, record: StepRecord) -> None:
        """ReplayDiverged when a step differs from the recorded step of the same number."""
        if not self._steps:
            return  # a bare call log: nothing to compare with
        old = self._steps.get(record.step)
        if old is None:
            raise ReplayDiverged(
                f"{self.name}: step {record.step} ({record.action}) was taken, but the "
                f"recording ended after step {max(self._steps)}"
            )
        for field in ("action", "args", "observation"):
            then, now = str(old.get(field)), str(getattr(record, field))
            if then != now:
                raise ReplayDiverged(
                    f"{self.name}: step {record.step}: the {field} differs from the recording "
                    f"{_first_difference(then, now)}"
                )

    def check_end(self, exit_reason: str) -> None:
        """ReplayDiverged when the run ended otherwise than the recording, or left calls."""
        recorded = self._state.exit_reason if self._state else None
        if recorded and recorded != exit_reason:
            raise ReplayDiverged(
                f"{self.name}: the run ended with {exit_reason}, the recording with {recorded} "
                f"({self.remaining} recorded call(s) unused)"
            )
        if self.remaining:
            raise ReplayDiverged(
                f"{self.name}: the run ended ({exit_reason}) with {self.remaining} of "
                f"{len(self._calls)} recorded call(s) unused"
            )


def _first_difference(then: str, now: str) -> str:
    """Where two texts first differ, with a short excerpt of each from there."""
    at = next((i for i, (a, b) in enumerate(zip(then, now, strict=False)) if a != b), None)
    if at is None:
        at = min(len(then), len(now))
    start = max(at - 40, 0)
    return (
        f"at character {at}: recorded {excerpt(then[start : at + 120], 160)!r}, "
        f"now {excerpt(now[start : at + 120], 160)!r}"
    )


def replays(models: Models | None) -> list[ReplayLLM]:
    """The distinct replays among a run's models."""
    if models is None:
        return []
    found = {id(m.llm): m.llm for m in (models.agent, models.fast, models.edit)}
    return [llm for llm in found.values() if isinstance(llm, ReplayLLM)]


def check_replay_start(models: Models | None, agent: str) -> None:
    """Refuse (ReplayDiverged) a replay under another agent than the recording's."""
    for replay in replays(models):
        replay.check_agent(agent)


def check_replay_step(models: Models | None, record: StepRecord) -> None:
    """ReplayDiverged at the first step that differs from its recording."""
    for replay in replays(models):
        replay.check_step(record)


def check_replay_end(models: Models | None, exit_reason: str) -> None:
    """ReplayDiverged when the run ended otherwise than its recording or left calls unused."""
    for replay in replays(models):
        replay.check_end(exit_reason)


def _kept_calls(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The successful calls, without those of a step's lost attempt: when two sessions (drive
    attempts of a resumed run) made calls for the same step, the later one's count."""
    last_session: dict[int, Any] = {}
    for row in rows:
        last_session[int(row.get("step") or 0)] = row.get("session")
    return [
        r
        for r in rows
        if not r.get("error")
        and r.get("completion") is not None
        and r.get("session") == last_session[int(r.get("step") or 0)]
    ]
