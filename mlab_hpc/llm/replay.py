"""``replay:<file>``: plays back the completions a run recorded, so it can be re-executed exactly.

The file is a run's ``trace/llm_calls.jsonl`` (or the run's folder, or its ``trace`` folder).
Successful calls are played back in the order they were recorded, with their recorded model,
token counts and cost; failed attempts are skipped (their retries were recorded after them), and
so are the calls of a step that a killed attempt lost and its resumption made again.
A call whose purpose differs from the recording's means the runs diverged: that is an
:class:`LLMError`. A prompt that differs (a time shown in a prompt, say) is only counted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .. import jsonl
from ..errors import PrerequisiteError
from .base import Completion, LLMError, Request

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

    @property
    def remaining(self) -> int:
        return len(self._calls) - self._next

    def skip_to_step(self, completed_steps: int) -> None:
        """Start after the calls of the first ``completed_steps`` steps (a resumed replay)."""
        self._next = sum(1 for r in self._calls if int(r.get("step") or 0) <= completed_steps)

    def generate(self, request: Request) -> Completion:
        """The next recorded completion; LLMError when the recording is used up or diverges."""
        if self._next >= len(self._calls):
            raise LLMError(
                f"{self.name}: the recording has no call {self._next + 1} "
                f"(it holds {len(self._calls)} successful calls)"
            )
        row = self._calls[self._next]
        if row.get("purpose") != request.purpose:
            raise LLMError(
                f"{self.name}: the run diverged from the recording at call {self._next + 1}: "
                f"recorded purpose {row.get('purpose')!r}, asked for {request.purpose!r}"
            )
        self._next += 1
        if row.get("prompt") != request.prompt:
            self.prompt_mismatches += 1
            log.info("replay call %d: the prompt differs from the recording", self._next)
        return Completion(
            text=str(row["completion"]),
            model=str(row.get("model") or self.name),
            prompt_tokens=row.get("prompt_tokens"),
            completion_tokens=row.get("completion_tokens"),
            finish_reason=row.get("finish_reason"),
            cost_usd=row.get("cost_usd"),
        )


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
