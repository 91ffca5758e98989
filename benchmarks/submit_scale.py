"""Planning and submitting a large campaign: 15 tasks x 8 seeds x 8 agent/model pairs = 960 runs.

Needs a running Slurm (the dev cluster will do):

    bash slurm/dev-cluster/start.sh && export SLURM_CONF=/tmp/mlab-dev-slurm/etc/slurm.conf
    python benchmarks/submit_scale.py

The tasks are 15 copies of cartpole (a trivial task: only planning and submission are
measured); the jobs are cancelled right after submission. Prints planning time, submission time,
and how many sbatch calls were made (one per job array, not one per run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from mlab_hpc.launch.campaign import CampaignPaths, plan, write_manifest
from mlab_hpc.launch.jobs import JobSettings
from mlab_hpc.launch.profiles import load_profile
from mlab_hpc.launch.submit import group_arrays, slurm_available, submit_arrays
from mlab_hpc.paths import ResultsRoot
from mlab_hpc.taskspec import all_tasks

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    reason = slurm_available()
    if reason is not None:
        raise SystemExit(f"no Slurm to submit to ({reason}): start slurm/dev-cluster/start.sh "
                         "and export SLURM_CONF")
    with tempfile.TemporaryDirectory(prefix="mlab-submit-bench-") as tmp:
        root = Path(tmp)
        tasks_root = root / "tasks"
        for i in range(15):
            shutil.copytree(REPO / "tasks" / "cartpole", tasks_root / f"bench-{i:02d}")
            toml = tasks_root / f"bench-{i:02d}" / "task.toml"
            toml.write_text(toml.read_text().replace('id = "cartpole"', f'id = "bench-{i:02d}"'))
        os.environ["MLAB_TASKS"] = str(tasks_root)
        agents = ["baseline" if i == 0 else f"pkg.agents:Agent{i}" for i in range(4)]
        models = ["openai:model-a", "anthropic:model-b"]

        t0 = time.perf_counter()
        tasks = all_tasks()
        runs = plan("bench", tasks, list(range(8)), agents, models, None)
        paths = CampaignPaths(ResultsRoot(root / "results"), "bench")
        profile = load_profile(REPO / "slurm" / "profiles" / "dev.toml")
        settings = JobSettings(results=str(root / "results"), data_root=str(root / "data"))
        arrays = group_arrays(runs, profile, settings)
        write_manifest(paths, runs, {})
        planning_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        sent = submit_arrays(arrays, "slurm", paths, settings, profile)
        submit_s = time.perf_counter() - t0

        job_ids = sorted({j.split("_")[0] for a in sent for j in a["job_ids"]})
        subprocess.run(["scancel", *job_ids], check=False)
        submissions = [json.loads(x) for x in paths.submissions.read_text().splitlines()]
        n_arrays = sum(len(s["arrays"]) for s in submissions)
        print(f"runs planned: {len(runs)} ({len(tasks)} tasks x 8 seeds x "
              f"{len(agents) * len(models)} agent/model pairs)")
        print(f"planning (expand, group, manifest): {planning_s:.2f} s")
        print(f"submission: {submit_s:.2f} s, {n_arrays} sbatch call(s) "
              f"(job arrays {', '.join(job_ids)}), {len(runs) / submit_s:.0f} runs/s")


if __name__ == "__main__":
    main()
