"""Execute Script's overhead under bwrap on a workspace with many read-only files.

The task's data is 10,000 files under ``images/``, protected by the glob ``images/*``. Each
step runs an empty script through a real Environment (bwrap sandbox, snapshot after the step).
Printed: the median step time with the data, the same without any read-only file, and the
difference (the overhead the read-only files cost; target < 100 ms), plus how many read-only
mounts bwrap was given.

    python benchmarks/readonly_mounts.py [--files 10000] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mlab_hpc.environment import ActionCall, Environment
from mlab_hpc.paths import RunPaths
from mlab_hpc.runner import _exclude_read_only
from mlab_hpc.sandbox import BwrapSandbox, SandboxLimits
from mlab_hpc.snapshots import SnapshotStore
from mlab_hpc.taskspec import Limits
from mlab_hpc.workspace import Workspace


def median_step_s(base: Path, files: int, steps: int) -> tuple[float, int]:
    """Median seconds of one Execute Script step, and the number of read-only mounts."""
    env_dir, data = base / "env", base / "data"
    env_dir.mkdir(parents=True)
    (env_dir / "noop.py").write_text("pass\n")
    (data / "images").mkdir(parents=True)
    for i in range(files):
        (data / "images" / f"{i:06d}.jpg").write_bytes(b"\xff\xd8\xff")
    paths = RunPaths(base / "run")
    paths.dir.mkdir(parents=True)
    ws = Workspace.create(paths.workspace, env_dir, data, ["images/*"] if files else [])
    store = SnapshotStore(paths.snapshots, ws, _exclude_read_only(ws))
    store.take(0)
    env = Environment(
        workspace=ws,
        sandbox=BwrapSandbox(SandboxLimits(mem_bytes=4 << 30)),
        paths=paths,
        snapshots=store,
        limits=Limits(max_steps=steps + 1, max_time_s=3600, action_timeout_s=60),
    )
    times = []
    try:
        for _ in range(steps):
            t0 = time.perf_counter()
            rec = env.execute(ActionCall("Execute Script", {"script_name": "noop.py"}))
            times.append(time.perf_counter() - t0)
            if rec.error_kind is not None:
                raise SystemExit(f"Execute Script failed: {rec.observation[:500]}")
    finally:
        env.close()
    return statistics.median(times), len(ws.read_only_mounts())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    reason = BwrapSandbox.unavailable_reason()
    if reason is not None:
        raise SystemExit(f"bwrap is not usable here: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        empty, _ = median_step_s(Path(tmp) / "empty", 0, args.steps)
        full, mounts = median_step_s(Path(tmp) / "full", args.files, args.steps)
    print(f"read-only files        {args.files}")
    print(f"read-only mounts       {mounts}")
    print(f"step, no data          {empty * 1000:.1f} ms (median of {args.steps})")
    print(f"step, with the data    {full * 1000:.1f} ms")
    print(f"overhead of the data   {(full - empty) * 1000:.1f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
