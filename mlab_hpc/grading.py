"""Grading: run a task's grader on workspace snapshots, in the sandbox, with the answer key.

The grader is a separate process from the agent (``scripts/eval.py``, see docs/task-format.md),
sees the answer key only here, and is run once per distinct content of the task's grader inputs:
snapshots that agree on those files share one grade.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import check_answer_key
from .sandbox import Mount, Sandbox
from .snapshots import SnapshotStore
from .taskspec import TaskSpec
from .workspace import glob_match

# Libraries graders import (mlab_rl_grading): mounted read-only in the grader's sandbox and put
# on its PYTHONPATH; the folder holds nothing else, and nothing in it imports mlab_hpc.
GRADER_LIB = Path(__file__).resolve().with_name("grader_lib")


@dataclass
class Grade:
    """What the grader said of one snapshot."""

    valid: bool
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)
    agent_reported: float | None = None
    grade_s: float = 0.0

    def metric(self, name: str) -> float | None:
        """The metric's value when the grade is valid and the value finite, else None."""
        value = self.metrics.get(name)
        if not self.valid or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)


def _finite_or_none(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


SCORE_CAP_BYTES = 1 << 20  # a grader's score.json is a few hundred bytes


def read_score(path: Path, cap: int = SCORE_CAP_BYTES) -> dict[str, Any]:
    """The JSON object in the grader's result file, read without following links.

    Raises ValueError (with the reason) when the path is a symlink, not a regular file (a FIFO,
    a device, a folder), larger than ``cap`` bytes, or not a JSON object; OSError when it is
    missing. Opening with O_NOFOLLOW | O_NONBLOCK never blocks on a FIFO nor follows a link.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{path.name} is a symbolic link, not the grader's file") from None
        raise
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        if st.st_size > cap:
            raise ValueError(f"{path.name} is larger than {cap} bytes ({st.st_size})")
        raw = fh.read(cap + 1)
    if len(raw) > cap:
        raise ValueError(f"{path.name} is larger than {cap} bytes")
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} does not hold a JSON object")
    return data


# Where isolating sandboxes show the answer key to the grader: a path that says nothing about
# the host, so no file of the agent's can be aimed at the key's host path.
ANSWERS_INSIDE = Path("/mlab/answers")


def grader_command(
    task: TaskSpec, sandbox: Sandbox, workspace: Path, answers_dir: Path, out: Path
) -> tuple[list[str], list[Mount], dict[str, str]]:
    """The grader's argv, mounts and environment (pure: for the run and for the tests).

    The answer folder is mounted at ANSWERS_INSIDE where the sandbox isolates (bwrap,
    apptainer); `process` cannot remap paths and passes the host path.
    """
    if sandbox.isolates:
        answers_mount, answers_arg = Mount(answers_dir, target=ANSWERS_INSIDE), ANSWERS_INSIDE
    else:
        answers_mount, answers_arg = Mount(answers_dir), answers_dir
    argv = [
        sandbox.python,
        str(task.eval_script),
        *("--workspace", str(workspace), "--answers", str(answers_arg), "--out", str(out)),
    ]
    mounts = [
        Mount(workspace),
        answers_mount,
        Mount(task.scripts_dir),
        Mount(GRADER_LIB),
        Mount(out.parent, writable=True),
    ]
    env = {"MLAB_GRADER": "1", "PYTHONPATH": str(GRADER_LIB), **task.script_env()}
    return argv, mounts, env


def run_grader(
    task: TaskSpec, sandbox: Sandbox, workspace: Path, answers: Path | None, scratch: Path
) -> Grade:
    """Grade the files in ``workspace`` (a folder the grader may only read).

    The result is read from the grader's score.json without following links (read_score): a
    link, FIFO or oversized file is a grader failure, recorded with its reason.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    out_dir = Path(tempfile.mkdtemp(prefix="grade-", dir=scratch))
    answers_dir = answers if answers is not None else out_dir / "no-answers"
    answers_dir.mkdir(exist_ok=True)
    out = out_dir / "score.json"
    argv, mounts, env = grader_command(task, sandbox, workspace, answers_dir, out)
    t0 = time.perf_counter()
    result = sandbox.run(
        argv,
        cwd=workspace,
        mounts=mounts,
        timeout_s=task.grader.timeout_s,
        output_file=out_dir / "grader.log",
        env=env,
    )
    seconds = time.perf_counter() - t0
    tail = " | ".join(result.output.strip().splitlines()[-3:])[-500:]
    if result.timed_out:
        grade = Grade(False, f"grader ran past its {task.grader.timeout_s:.0f} s limit", {})
    elif result.returncode != 0:
        grade = Grade(False, f"grader failed (exit {result.returncode}): {tail}", {})
    else:
        try:
            data = read_score(out)
            metrics = {
                k: float(v)
                for k, v in (data.get("metrics") or {}).items()
                if _finite_or_none(v) is not None
            }
            grade = Grade(
                bool(data.get("valid")),
                str(data.get("reason") or ""),
                metrics,
                _finite_or_none(data.get("agent_reported")),
            )
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            # a link, FIFO or oversized file is never read: a grader failure, with the reason
            grade = Grade(False, f"grader wrote no readable score ({exc}): {tail}", {})
    grade.grade_s = seconds
    shutil.rmtree(out_dir, ignore_errors=True)
    return grade


def input_key(manifest: dict[str, tuple[str, int]], globs: tuple[str, ...]) -> str:
    """A hash of the grader-input files of a snapshot (same key: same grade)."""
    h = hashlib.sha256()
    for rel in sorted(manifest):
        if glob_match(rel, globs):
            blob, mode = manifest[rel]
            h.update(f"{rel}\0{blob}\0{mode}\n".encode())
    return h.hexdigest()[:16]


def grade_snapshots(
    task: TaskSpec,
    sandbox: Sandbox,
    store: SnapshotStore,
    step_snapshots: list[tuple[int, str]],
    answers: Path | None,
    scratch: Path,
    progress: Any = None,
) -> dict[int, tuple[str, Grade]]:
    """Grade the snapshot of every given step; returns ``{step: (snapshot_id, grade)}``.

    The answer key is first checked against its dataset's manifest (DataError if changed).
    """
    if answers is not None:
        check_answer_key(answers)
    by_key: dict[str, Grade] = {}
    out: dict[int, tuple[str, Grade]] = {}
    manifests: dict[str, dict[str, tuple[str, int]]] = {}
    for step, snapshot_id in step_snapshots:
        if snapshot_id not in manifests:
            manifests[snapshot_id] = store.manifest(snapshot_id)
        key = input_key(manifests[snapshot_id], task.grader.inputs)
        if key not in by_key:
            ws = scratch / f"ws-{key}"
            shutil.rmtree(ws, ignore_errors=True)
            links = store.materialize(
                snapshot_id,
                ws,
                only=lambda rel: glob_match(rel, task.grader.inputs),
                regular_only=True,
            )
            if links:  # graders receive regular files only; a link is never followed
                by_key[key] = Grade(False, f"symlink not allowed: {', '.join(links[:3])}", {})
            else:
                by_key[key] = run_grader(task, sandbox, ws, answers, scratch)
            shutil.rmtree(ws, ignore_errors=True)
            if progress is not None:
                progress(step, by_key[key])
        out[step] = (snapshot_id, by_key[key])
    return out


def grade_folder(
    task: TaskSpec, sandbox: Sandbox, files: list[Path], answers: Path | None, scratch: Path
) -> Grade:
    """Grade a workspace laid out from folders (later ones override earlier ones).

    The answer key is first checked against its dataset's manifest: a changed key raises
    DataError, so its grade never reaches the baseline cache.
    """
    if answers is not None:
        check_answer_key(answers)
    ws = Path(tempfile.mkdtemp(prefix="ref-", dir=scratch))
    try:
        for folder in files:
            shutil.copytree(folder, ws, dirs_exist_ok=True)
        return run_grader(task, sandbox, ws, answers, scratch)
    finally:
        shutil.rmtree(ws, ignore_errors=True)
