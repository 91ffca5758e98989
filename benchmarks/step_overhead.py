"""Harness overhead per step, and bytes written per step, on a large workspace.

The workspace holds 200 files / 200 MB (none read-only, so all of it is under snapshot); every
step writes one ~1 KB file. Measured per step, excluding the action's own work:
  - "hinted": the action says which file it changed (Write File, Append File, edits);
  - "full scan": the action could have changed anything (Execute Script): every file is stat'ed.
And, in the same run, what copying the whole workspace each step costs (the naive snapshot).

    python benchmarks/step_overhead.py [--steps 50 500] [--files 200] [--mb 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from mlab_hpc.environment import ActionCall, Environment
from mlab_hpc.paths import RunPaths
from mlab_hpc.sandbox import ProcessSandbox
from mlab_hpc.snapshots import SnapshotStore
from mlab_hpc.taskspec import Limits
from mlab_hpc.workspace import Workspace


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def make_workspace(root: Path, files: int, total_mb: int) -> None:
    root.mkdir(parents=True)
    size = total_mb * 2**20 // files
    block = os.urandom(size)
    for i in range(files):
        sub = root / f"dir{i % 10}"
        sub.mkdir(exist_ok=True)
        (sub / f"data{i:03d}.bin").write_bytes(block[i:] + block[:i])  # distinct contents


def measure(base: Path, steps: int, files: int, total_mb: int, full_scan: bool) -> dict:
    run = RunPaths(base / f"run-{steps}-{full_scan}")
    run.dir.mkdir(parents=True)
    make_workspace(run.workspace, files, total_mb)
    ws = Workspace(run.workspace)
    store = SnapshotStore(run.snapshots, ws)
    store.take(0)  # the initial snapshot stores the workspace once: not a per-step cost
    env = Environment(
        workspace=ws,
        sandbox=ProcessSandbox(),
        paths=run,
        limits=Limits(steps + 1, 1e9, 60),
        snapshots=store,
    )
    overheads = []
    content = "x" * 1000
    before = tree_bytes(run.dir) - tree_bytes(run.workspace)
    for i in range(steps):
        if full_scan:
            # the action's own work (writing the file) outside the harness, then a full scan:
            (run.workspace / "notes.txt").write_text(f"{i} {content}")
            t0 = time.perf_counter()
            sid = store.take(i + 1, None)
            env._log.append({"step": i + 1, "snapshot_id": sid, "observation": "ok"})
            overheads.append(time.perf_counter() - t0)
        else:
            env.execute(
                ActionCall("Write File", {"file_name": "notes.txt", "content": f"{i} {content}"})
            )
            overheads.append(env.last_overhead_s)
    env.close()
    # everything the harness wrote outside the workspace: blobs, snapshot index, trace logs
    written = tree_bytes(run.dir) - tree_bytes(run.workspace) - before
    shutil.rmtree(run.dir)
    ms = sorted(o * 1000 for o in overheads)
    return {
        "median_ms": statistics.median(ms),
        "p90_ms": ms[int(0.9 * (len(ms) - 1))],
        "max_ms": ms[-1],
        "first5_ms": statistics.median(overheads[:5]) * 1000,
        "last5_ms": statistics.median(overheads[-5:]) * 1000,
        "bytes_per_step": written / steps,
    }


def full_copy(base: Path, files: int, total_mb: int, reps: int = 3) -> tuple[float, int]:
    src = base / "copy-src"
    make_workspace(src, files, total_mb)
    times = []
    for r in range(reps):
        t0 = time.perf_counter()
        shutil.copytree(src, base / f"copy-{r}")
        times.append(time.perf_counter() - t0)
        shutil.rmtree(base / f"copy-{r}")
    size = tree_bytes(src)
    shutil.rmtree(src)
    return statistics.median(times) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlab-bench-", dir=os.environ.get("TMPDIR")) as tmp:
        base = Path(tmp)
        copy_ms, copy_bytes = full_copy(base, args.files, args.mb)
        print(f"workspace: {args.files} files, {args.mb} MB; one ~1 KB file changes per step")
        print(f"full copy of the workspace per step: {copy_ms:.1f} ms, {copy_bytes} bytes")
        header = (
            f"{'mode':<10} {'steps':>5} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} "
            f"{'first5 ms':>10} {'last5 ms':>9} {'bytes/step':>11} {'x faster than copy':>19}"
        )
        print(header)
        for full_scan in (False, True):
            for steps in args.steps:
                r = measure(base, steps, args.files, args.mb, full_scan)
                mode = "full scan" if full_scan else "hinted"
                print(
                    f"{mode:<10} {steps:>5} {r['median_ms']:>10.3f} {r['p90_ms']:>8.3f} "
                    f"{r['max_ms']:>8.3f} {r['first5_ms']:>10.3f} {r['last5_ms']:>9.3f} "
                    f"{r['bytes_per_step']:>11.0f} {copy_ms / r['median_ms']:>19.0f}"
                )


if __name__ == "__main__":
    main()
