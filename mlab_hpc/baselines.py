"""Per-task reference scores, computed once and cached in the results root.

- ``starter``: the scores of baseline-agent runs (their mean is the baseline of success, and the
  naive anchor of tasks whose naive score is "the starter script's score").
- ``reference``: the task's baselines/human/ solution graded on this machine (for anchors that
  depend on the machine, such as run times).

Cached per task version and kind of data in
``<results>/baselines/<task>@v<version>[.<variant>].json``: the starter's score on generated
data, or in a smoke run, says nothing about the real task, so those runs keep their own cache
(variant ``generated``, ``smoke``, ``generated.smoke``).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
from typing import Any

from .grading import Grade
from .paths import ResultsRoot
from .taskspec import TaskSpec


class BaselineCache:
    def __init__(self, results: ResultsRoot, task: TaskSpec, variant: str = "") -> None:
        self.task = task
        suffix = f".{variant}" if variant else ""
        self.path = results.baselines_dir / f"{task.id}@v{task.version}{suffix}.json"

    def _load(self) -> dict[str, Any]:
        if self.path.exists():
            return json.loads(self.path.read_text())
        return {
            "task": self.task.id,
            "version": self.task.version,
            "starter": [],
            "reference": None,
        }

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(self.path)

    def add_starter(self, run_id: str, grade: Grade) -> None:
        """Record a baseline-agent run's final grade (valid ones only; once per run)."""
        if not grade.valid:
            return
        data = self._load()
        data["starter"] = [e for e in data["starter"] if e["run_id"] != run_id]
        data["starter"].append({"run_id": run_id, "metrics": grade.metrics})
        self._save(data)

    def starter_mean(self, metric: str) -> float | None:
        values = [e["metrics"][metric] for e in self._load()["starter"] if metric in e["metrics"]]
        return statistics.fmean(values) if values else None

    def reference(self) -> dict[str, float] | None:
        ref = self._load()["reference"]
        return ref["metrics"] if ref else None

    def set_reference(self, grade: Grade) -> None:
        data = self._load()
        data["reference"] = {
            "metrics": grade.metrics,
            "host": socket.gethostname(),
            "valid": grade.valid,
            "reason": grade.reason,
        }
        self._save(data)
