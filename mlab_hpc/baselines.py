"""The graded human reference of a task, computed once and cached in the results root.

Tasks whose human anchor is ``"reference"`` grade their baselines/human/ solution on the
machine that grades the run (for anchors that depend on the machine, such as run times). The
grade is cached per task version and kind of data in
``<results>/baselines/<task>@v<version>[.<variant>][.<machine>].json``: generated data and
smoke runs keep their own cache (variants ``generated``, ``smoke``, ``generated.smoke``), and so
does each kind of machine for timed tasks (the machine's class, hashed into the name).

The baseline agent's scores are not cached here: the analysis views compute the baseline of
success and "starter" anchors from the baseline runs in the tables when queried.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from typing import Any

from .grading import Grade
from .paths import ResultsRoot
from .taskspec import TaskSpec


class BaselineCache:
    def __init__(
        self, results: ResultsRoot, task: TaskSpec, variant: str = "", machine: str = ""
    ) -> None:
        self.task = task
        self.machine = machine
        parts = [f"{task.id}@v{task.version}"]
        if variant:
            parts.append(variant)
        if task.metric.timed and machine:
            parts.append("m" + hashlib.sha256(machine.encode()).hexdigest()[:10])
        self.path = results.baselines_dir / (".".join(parts) + ".json")

    def _load(self) -> dict[str, Any]:
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                if isinstance(data, dict):
                    return data
            except ValueError:
                pass  # a torn or edited file: grade the reference again
        return {"task": self.task.id, "version": self.task.version, "reference": None}

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(self.path)

    def reference(self) -> dict[str, float] | None:
        """The metrics of the graded reference solution, or None if it was not graded yet."""
        ref = self._load().get("reference")
        return ref["metrics"] if isinstance(ref, dict) else None

    def set_reference(self, grade: Grade) -> None:
        data = self._load()
        data["reference"] = {
            "metrics": grade.metrics,
            "host": socket.gethostname(),
            "machine": self.machine,
            "valid": grade.valid,
            "reason": grade.reason,
        }
        self._save(data)
