"""The Parquet tables: schemas defined once, here, with a version.

These column names are the public SQL interface (docs/design.md, "Data model").
Adding a column is fine; renaming or removing one bumps SCHEMA_VERSION.
"""

from __future__ import annotations

import pyarrow as pa

# 2: anchors computed at analysis time (baseline_score, improvement, naive_score,
#    naive/human_normalized, human_relative, success left the runs table for the views);
#    machine, timed, final_hr_score, final_hr_normalized, best_hr_normalized, naive_fixed added
SCHEMA_VERSION = 2

_TS = pa.timestamp("us", tz="UTC")

RUNS = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
        ("campaign", pa.string()),
        ("task", pa.string()),
        ("task_version", pa.string()),
        ("agent", pa.string()),
        ("model", pa.string()),
        ("seed", pa.int64()),
        ("status", pa.string()),  # completed timeout failed llm_error budget preempted ...
        # replay_diverged (runner.STATUS_OF_EXIT)
        ("exit_reason", pa.string()),  # final_answer | max_steps | max_time | agent_error | crashed
        ("error", pa.string()),
        ("started_at", _TS),
        ("ended_at", _TS),
        ("wall_s", pa.float64()),
        ("n_steps", pa.int64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("slurm_job_id", pa.string()),
        ("slurm_array_index", pa.int64()),
        ("node", pa.string()),
        ("gpu", pa.string()),
        ("attempts", pa.int64()),
        ("attempts_json", pa.string()),  # every attempt: job, node, requested and used resources
        ("requested_cpus", pa.int64()),
        ("requested_mem_gb", pa.float64()),
        ("requested_gpus", pa.int64()),
        ("requested_time_min", pa.int64()),
        ("sandbox", pa.string()),
        ("trusted", pa.bool_()),  # graded in an isolating sandbox (false: `process`, no isolation)
        ("data_mode", pa.string()),  # real | generated | none
        ("smoke", pa.bool_()),  # run with --smoke (starters trained minimally): not a result
        ("env_id", pa.string()),  # the gymnasium environment of RL tasks, else null
        ("image_digest", pa.string()),
        ("harness_version", pa.string()),
        ("machine", pa.string()),  # CPU model (and GPU model): timed tasks' anchors are per machine
        ("timed", pa.bool_()),  # the task's metric is a time or a speed (anchors keyed by machine)
        ("success_rule", pa.string()),  # baseline (against baseline runs) | paired (timed tasks)
        # paired: the lower end of the final snapshot's improvement over the starter timed in
        # the same grading job (scoring.paired_improvement); null for the baseline rule
        ("paired_improvement_low", pa.float64()),
        ("metric", pa.string()),
        ("direction", pa.string()),
        ("final_score", pa.float64()),
        ("final_valid", pa.bool_()),
        ("best_score", pa.float64()),
        ("hr_metric", pa.string()),
        # The run's own facts in the human-relative metric. Anchors that come from other runs
        # (the baseline agent's mean score: success's baseline, a "starter" naive anchor) are
        # not stored: the analysis views compute them when queried (analysis/views.sql), so
        # the order in which runs finished never changes a number.
        ("final_hr_score", pa.float64()),  # raw; null when the final submission is invalid
        ("final_hr_normalized", pa.float64()),  # normalised; null when invalid
        ("best_hr_normalized", pa.float64()),  # best valid snapshot, normalised; null if none
        ("naive_fixed", pa.float64()),  # the task's fixed naive anchor (raw); null: "starter"
        ("human_score", pa.float64()),  # the human anchor (raw): published, or graded here
        ("agent_reported", pa.float64()),
        # agent_reported far from the graded final score (rule: scoring.reported_disagrees)
        ("reported_disagrees", pa.bool_()),
    ]
)

STEPS = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
        ("campaign", pa.string()),
        ("task", pa.string()),
        ("step", pa.int64()),
        ("action", pa.string()),
        ("args", pa.string()),  # JSON text
        ("thought", pa.string()),
        ("observation", pa.string()),
        ("started_at", _TS),
        ("duration_s", pa.float64()),
        ("exit_code", pa.int64()),
        ("error_kind", pa.string()),
        ("snapshot_id", pa.string()),
    ]
)

SCORES = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
        ("campaign", pa.string()),
        ("task", pa.string()),
        ("step", pa.int64()),
        ("snapshot_id", pa.string()),
        ("raw_score", pa.float64()),
        ("hr_raw_score", pa.float64()),
        ("normalized_score", pa.float64()),
        ("valid", pa.bool_()),
        ("reason", pa.string()),
        ("metrics", pa.string()),  # JSON text: every metric the grader reported
        ("agent_reported", pa.float64()),
        ("grade_s", pa.float64()),
    ]
)

LLM_CALLS = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("run_id", pa.string()),
        ("campaign", pa.string()),
        ("task", pa.string()),
        ("step", pa.int64()),
        ("purpose", pa.string()),
        ("role", pa.string()),  # agent | fast | edit: which of the run's models answered
        ("model", pa.string()),
        ("session", pa.string()),  # one per attempt of the run: calls of a resumed run differ
        ("attempt", pa.int64()),  # 1 for a call's first try, 2.. for its retries
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("latency_s", pa.float64()),
        ("prompt", pa.string()),
        ("completion", pa.string()),
        ("error", pa.string()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "runs": RUNS,
    "steps": STEPS,
    "scores": SCORES,
    "llm_calls": LLM_CALLS,
}
