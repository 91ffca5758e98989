"""Grading time of every RL task for its starter (random) policy, graded as the harness grades.

    python benchmarks/rl_grading.py [--tasks cartpole,pong] [--sandbox bwrap|process] [--repeat R]

For each task, the task's env/ folder is copied to a scratch workspace and graded with
mlab_hpc.grading.run_grader: the task's scripts/eval.py in the chosen sandbox (default: bwrap
where it works), the grader library mounted, the task's own episode count. Prints one line per
task: the graded mean return, the environment steps graded (the child plays them, the parent
replays them), the wall time of the grading (best of ``--repeat``) and the steps per second.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mlab_hpc.grading import run_grader
from mlab_hpc.runner import sandbox_limits
from mlab_hpc.sandbox import make_sandbox
from mlab_hpc.taskspec import all_tasks, get_task


def main() -> None:
    """Grade each chosen task's starter and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="", help="ids separated by commas (default: all RL)")
    parser.add_argument("--sandbox", choices=["bwrap", "process"], default=None)
    parser.add_argument("--repeat", type=int, default=1, help="gradings per task; best is shown")
    args = parser.parse_args()

    ids = [t for t in args.tasks.split(",") if t] or [
        t.id for t in all_tasks() if t.deliverable == "policy"
    ]
    print(
        f"{'task':18} {'env':20} {'episodes':>8} {'mean return':>12} {'steps':>8} "
        f"{'grading s':>10} {'steps/s':>8}"
    )
    for task_id in ids:
        task = get_task(task_id)
        assert task.rl is not None, f"{task_id} is not an RL task"
        sandbox, warning = make_sandbox(args.sandbox, sandbox_limits(task))
        if warning:
            print(warning, file=sys.stderr)
        best = float("inf")
        with tempfile.TemporaryDirectory(prefix=f"rl-grading-{task_id}-") as scratch:
            workspace = Path(scratch) / "workspace"
            shutil.copytree(task.env_dir, workspace)
            for _ in range(args.repeat):
                start = time.perf_counter()
                grade = run_grader(task, sandbox, workspace, None, Path(scratch) / "grading")
                best = min(best, time.perf_counter() - start)
        if not grade.valid:
            print(f"{task_id:18} invalid: {grade.reason}")
            continue
        episodes = grade.metrics["episodes"]
        steps = grade.metrics["mean_length"] * episodes
        mean = grade.metrics["mean_return"]
        print(
            f"{task_id:18} {task.rl.env_id:20} {episodes:8.0f} {mean:12.2f} "
            f"{steps:8.0f} {best:10.1f} {steps / best:8.0f}"
        )


if __name__ == "__main__":
    main()
