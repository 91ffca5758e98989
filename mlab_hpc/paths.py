"""Where every file lives: the results root, one run's folder, the data root.

All paths under the results root are properties of :class:`ResultsRoot` (tables, campaigns,
baselines) and of one :class:`RunPaths` per run; nothing else builds them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TABLES = ("runs", "steps", "scores", "llm_calls")


def default_results_root() -> Path:
    """$MLAB_RESULTS, else ./results."""
    return Path(os.environ.get("MLAB_RESULTS", "results"))


def default_data_root() -> Path:
    """$MLAB_DATA, else the per-user cache ($XDG_CACHE_HOME or ~/.cache)/mlab-hpc/data."""
    env = os.environ.get("MLAB_DATA")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mlab-hpc" / "data"


@dataclass(frozen=True)
class ResultsRoot:
    """The results root: run folders under runs/, hive-partitioned Parquet under tables/."""

    root: Path

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def baselines_dir(self) -> Path:
        return self.root / "baselines"

    @property
    def campaigns_dir(self) -> Path:
        """One folder per campaign: its manifest and submissions record (launch/campaign.py)."""
        return self.root / "campaigns"

    def run(self, run_id: str) -> RunPaths:
        return RunPaths(self.runs_dir / run_id)

    def table_dir(self, table: str) -> Path:
        return self.root / "tables" / table

    def table_file(self, table: str, campaign: str, task: str, run_id: str) -> Path:
        """The Parquet file of one run in one table (DuckDB reads the hive partitions in place)."""
        return self.table_dir(table) / f"campaign={campaign}" / f"task={task}" / f"{run_id}.parquet"

    def table_glob(self, table: str) -> str:
        return str(self.table_dir(table) / "**" / "*.parquet")


@dataclass(frozen=True)
class RunPaths:
    """Every file of one run."""

    dir: Path

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def state(self) -> Path:
        """run.json: the run's configuration and lifecycle state (rewritten atomically)."""
        return self.dir / "run.json"

    @property
    def workspace(self) -> Path:
        return self.dir / "workspace"

    @property
    def steps_log(self) -> Path:
        """One JSON line per completed step, appended and flushed as each step ends."""
        return self.dir / "trace" / "steps.jsonl"

    @property
    def llm_log(self) -> Path:
        return self.dir / "trace" / "llm_calls.jsonl"

    @property
    def edits_log(self) -> Path:
        """Edit history of the workspace's files (Undo Edit Script)."""
        return self.dir / "trace" / "edits.jsonl"

    @property
    def space_reserve(self) -> Path:
        """The file a running run holds so that a full disk never loses a step (diskspace.py)."""
        return self.dir / "trace" / ".space-reserve"

    @property
    def scores_log(self) -> Path:
        return self.dir / "trace" / "scores.jsonl"

    @property
    def snapshots(self) -> Path:
        return self.dir / "snapshots"

    @property
    def snapshot_index(self) -> Path:
        return self.snapshots / "index.jsonl"

    @property
    def blobs(self) -> Path:
        return self.snapshots / "blobs"

    @property
    def action_logs(self) -> Path:
        """Full output of executed scripts, one file per step."""
        return self.dir / "logs"

    @property
    def grading(self) -> Path:
        """Scratch space of the grader (materialised snapshots, grader outputs)."""
        return self.dir / "grading"
