"""How long the analysis takes on a large campaign: 10,000 runs, 1,000,000 steps, 200,000 LLM calls.

    python benchmarks/analysis_scale.py [--runs 10000] [--steps-per-run 100] [--calls-per-run 20]
                                        [--out DIR] [--keep]

Writes synthetic traces with the real table schemas (mlab_hpc/schema.py) at the real paths (one
Parquet file per run and table, as runs write them), and, beside them, the same runs as JSON logs
(one result.json per run). Then prints, measured in this one process:

- the full report (every section, intervals included, rendered) from the compacted cache: cold
  (the cache built from the 40,000 files) and warm (the cache up to date: the usual case);
- the same report reading every Parquet file in place (--no-cache);
- a GROUP BY over the steps table, from the cache and in place;
- pandas computing the same success table (task x agent x model: runs, successes, rate) from
  the JSON logs, and whether its numbers equal the report's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlab_hpc.analysis import connect
from mlab_hpc.analysis.render import to_text
from mlab_hpc.analysis.report import build_report
from mlab_hpc.paths import ResultsRoot
from mlab_hpc.schema import SCHEMA_VERSION, SCHEMAS

TASKS = [f"task{i:02d}" for i in range(10)]
AGENTS = ["research", "react", "baseline", "langchain"]
MODELS = ["gpt-x", "claude-y"]
ACTIONS = ["List Files", "Read File", "Edit Script (AI)", "Execute Script", "Understand File"]
ERRORS = [None] * 19 + ["timeout"]


def _table(name: str, columns: dict[str, object], n: int) -> pa.Table:
    """A table of the real schema: given columns, nulls elsewhere."""
    schema = SCHEMAS[name]
    arrays = []
    for f in schema:
        if f.name in columns:
            arrays.append(pa.array(columns[f.name], type=f.type))
        elif f.name == "schema_version":
            arrays.append(pa.array(np.full(n, SCHEMA_VERSION, dtype=np.int32), type=f.type))
        else:
            arrays.append(pa.nulls(n, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def generate(root: Path, n_runs: int, steps_per_run: int, calls_per_run: int) -> dict[str, int]:
    rng = np.random.default_rng(7)
    results = ResultsRoot(root)
    idx = np.arange(n_runs)
    task = np.array(TASKS)[idx % len(TASKS)]
    agent = np.array(AGENTS)[(idx // len(TASKS)) % len(AGENTS)]
    model = np.array(MODELS)[(idx // (len(TASKS) * len(AGENTS))) % len(MODELS)]
    seed = idx // (len(TASKS) * len(AGENTS) * len(MODELS))
    lower = np.array([t in TASKS[::2] for t in task])
    baseline = 1.0 + (idx % len(TASKS)) * 0.5
    skill = {"research": 0.15, "react": 0.08, "baseline": 0.0, "langchain": 0.04}
    gain = np.array([skill[a] for a in agent]) + rng.normal(0, 0.1, n_runs)
    final = np.where(lower, baseline * (1 - gain), baseline * (1 + gain))
    valid = rng.random(n_runs) > 0.05
    status = rng.choice(["completed"] * 17 + ["timeout", "failed", "llm_error"], n_runs)
    hr = np.clip(0.3 + gain + rng.normal(0, 0.05, n_runs), 0, None)
    run_ids = [f"{t}.{a}.{m}.s{s}" for t, a, m, s in zip(task, agent, model, seed, strict=True)]
    runs = _table(
        "runs",
        {
            "run_id": run_ids,
            "campaign": ["scale"] * n_runs,
            "task": task,
            "task_version": ["1"] * n_runs,
            "agent": agent,
            "model": model,
            "seed": seed,
            "status": status,
            "exit_reason": np.where(status == "completed", "final_answer", "max_time"),
            "wall_s": rng.uniform(100, 3600, n_runs),
            "n_steps": np.full(n_runs, steps_per_run),
            "prompt_tokens": rng.integers(1e4, 1e5, n_runs),
            "completion_tokens": rng.integers(1e3, 1e4, n_runs),
            "cost_usd": rng.uniform(0.1, 3.0, n_runs),
            "metric": ["score"] * n_runs,
            "direction": np.where(lower, "lower", "higher"),
            "final_score": np.where(valid, final, np.nan),
            "final_valid": valid,
            "best_score": final,
            # the run's own facts only: the views compute the baseline (the mean final score
            # of the baseline agent's runs of the task) and success when the report is made
            "best_hr_normalized": hr,
        },
        n_runs,
    )
    runs = runs.set_column(  # NaN -> null, as the harness writes missing scores
        runs.schema.get_field_index("final_score"),
        "final_score",
        pa.array(np.where(valid, final, np.nan), type=pa.float64(), from_pandas=True),
    )
    n_steps = n_runs * steps_per_run
    step_no = np.tile(np.arange(1, steps_per_run + 1), n_runs)
    action = np.array(ACTIONS)[rng.integers(0, len(ACTIONS), n_steps)]
    steps = _table(
        "steps",
        {
            "run_id": np.repeat(run_ids, steps_per_run),
            "campaign": ["scale"] * n_steps,
            "task": np.repeat(task, steps_per_run),
            "step": step_no,
            "action": action,
            "args": ['{"script_name": "train.py"}'] * n_steps,
            "observation": ["The script has been executed. Output: loss 0.123 accuracy 0.456 " * 3]
            * n_steps,
            "duration_s": rng.exponential(20, n_steps),
            "error_kind": np.array(ERRORS, dtype=object)[rng.integers(0, len(ERRORS), n_steps)],
            "snapshot_id": ["0123456789abcdef"] * n_steps,
        },
        n_steps,
    )
    n_scores = n_runs * (steps_per_run + 1)
    scores = _table(
        "scores",
        {
            "run_id": np.repeat(run_ids, steps_per_run + 1),
            "campaign": ["scale"] * n_scores,
            "task": np.repeat(task, steps_per_run + 1),
            "step": np.tile(np.arange(steps_per_run + 1), n_runs),
            "raw_score": np.repeat(baseline, steps_per_run + 1) * rng.uniform(0.8, 1.2, n_scores),
            "normalized_score": rng.uniform(0, 1, n_scores),
            "valid": np.ones(n_scores, bool),
        },
        n_scores,
    )
    n_calls = n_runs * calls_per_run
    calls = _table(
        "llm_calls",
        {
            "run_id": np.repeat(run_ids, calls_per_run),
            "campaign": ["scale"] * n_calls,
            "task": np.repeat(task, calls_per_run),
            "step": np.tile(
                np.arange(calls_per_run) * steps_per_run // max(calls_per_run, 1) + 1, n_runs
            ),
            "purpose": np.array(["agent", "edit", "summarise"])[rng.integers(0, 3, n_calls)],
            "model": np.repeat(model, calls_per_run),
            "prompt_tokens": rng.integers(500, 5000, n_calls),
            "completion_tokens": rng.integers(50, 500, n_calls),
            "cost_usd": rng.uniform(0.001, 0.05, n_calls),
            "latency_s": rng.uniform(0.5, 5, n_calls),
            "prompt": ["..."] * n_calls,
            "completion": ["..."] * n_calls,
        },
        n_calls,
    )
    per_run = {
        "runs": (runs, 1),
        "steps": (steps, steps_per_run),
        "scores": (scores, steps_per_run + 1),
        "llm_calls": (calls, calls_per_run),
    }
    runs_json = runs.to_pylist()
    for i, run_id in enumerate(run_ids):
        for name, (table, k) in per_run.items():
            path = results.table_file(name, "scale", str(task[i]), run_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.slice(i * k, k), path, compression="zstd")
        log = root / "json_logs" / run_id / "result.json"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(json.dumps(runs_json[i], default=str))
    return {"runs": n_runs, "steps": n_steps, "scores": n_scores, "llm_calls": n_calls}


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def full_report(root: Path, cache: bool):  # type: ignore[no-untyped-def]
    con = connect(root, cache=cache)
    report = build_report(con, root)
    to_text(report)
    return report


GROUP_BY_STEPS = (
    "SELECT task, action, coalesce(error_kind, 'ok') AS outcome, count(*) AS n, "
    "avg(duration_s) AS mean_s FROM steps GROUP BY ALL"
)


def pandas_success(logs: Path):  # type: ignore[no-untyped-def]
    import pandas as pd

    rows = [json.loads((d / "result.json").read_text()) for d in logs.iterdir()]
    df = pd.DataFrame(rows)
    valid = df["final_valid"].fillna(False) & df["final_score"].notna()
    # the baseline: the mean valid final score of the baseline agent's finished runs of the task
    base = df[valid & (df["agent"] == "baseline") & (df["exit_reason"] == "final_answer")]
    df["baseline_score"] = df["task"].map(base.groupby("task")["final_score"].mean())
    change = (df["final_score"] - df["baseline_score"]).where(
        df["direction"] == "higher", df["baseline_score"] - df["final_score"]
    )
    df["success"] = valid & (change / df["baseline_score"].abs() > 0.10)
    table = df.groupby(["task", "agent", "model"]).agg(
        n_runs=("run_id", "size"), n_success=("success", "sum")
    )
    table["success_rate"] = table["n_success"] / table["n_runs"]
    return table.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps-per-run", type=int, default=100)
    parser.add_argument("--calls-per-run", type=int, default=20)
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated results")
    args = parser.parse_args()
    base = args.out or Path(tempfile.mkdtemp(prefix="mlab-analysis-scale-"))
    root = base / "results"
    try:
        t, counts = timed(lambda: generate(root, args.runs, args.steps_per_run, args.calls_per_run))
        print(f"generated {counts} in {t:.1f} s under {root} ({os.cpu_count()} CPUs)")
        t_cold, _ = timed(lambda: full_report(root, cache=True))
        print(f"full report, cold cache (compacting {4 * args.runs} files): {t_cold:6.2f} s")
        t_warm, report = timed(lambda: full_report(root, cache=True))
        print(f"full report, warm cache (the usual case)          : {t_warm:6.2f} s  (goal < 2 s)")
        command = [sys.executable, "-m", "mlab_hpc", "--results", str(root), "report"]
        t_cli, _ = timed(lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL))
        print(f"`mlab-hpc report`, a fresh process, imports included: {t_cli:6.2f} s")
        t_place, _ = timed(lambda: full_report(root, cache=False))
        print(f"full report, every file read in place (--no-cache): {t_place:6.2f} s")
        con = connect(root)
        t_gb, rows = timed(lambda: con.execute(GROUP_BY_STEPS).fetchall())
        print(
            f"GROUP BY over {counts['steps']:,} steps, from the cache: "
            f"{t_gb:6.2f} s ({len(rows)} groups)"
        )
        con_place = connect(root, cache=False)
        t_gbp, _ = timed(lambda: con_place.execute(GROUP_BY_STEPS).fetchall())
        print(f"GROUP BY over the steps, every file read in place   : {t_gbp:6.2f} s")
        t_pd, table = timed(lambda: pandas_success(root / "json_logs"))
        print(f"pandas: success table from {args.runs:,} JSON logs         : {t_pd:6.2f} s")
        ours = {
            (r["task"], r["agent"], r["model"]): (r["n_runs"], r["n_success"])
            for r in report.section("success_rate").rows
        }
        theirs = {
            (r.task, r.agent, r.model): (int(r.n_runs), int(r.n_success))
            for r in table.itertuples()
        }
        print(f"pandas's success table equals the report's: {ours == theirs} ({len(ours)} cells)")
    finally:
        if not args.keep and args.out is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
