-- mlab-hpc: views over the Parquet tables of a results root, read in place (no import step).
--
-- From the DuckDB CLI (DuckDB >= 1.1), in the repository's root folder:
--
--     duckdb -c ".read analysis/views.sql" -c "FROM run_outcomes"          # ./results
--     duckdb -c "SET VARIABLE mlab_results = '/scratch/me/results'" \
--            -c ".read analysis/views.sql" -c ".read analysis/queries/success_rate.sql"
--
-- Variables, all optional, set before reading this file:
--   mlab_results      the results root (default 'results', relative to the working directory)
--   mlab_analysis     this folder (default 'analysis'): where empty.parquet is
--   mlab_campaigns    a list of campaign names to keep, e.g. ['pilot', 'main'] (default: all)
--   mlab_src_<table>  a list of Parquet files to read instead of the results root's
--                     tables/<table>/**/*.parquet (mlab-hpc points these at its compacted cache)
--
-- The files of each table are listed when this file is read: read it again to see runs that
-- finished since. A table without files yet (llm_calls before any LLM agent ran, say) is an
-- empty view with the table's columns, not an error: every read includes empty.parquet (no
-- rows, one column "empty"), and the column lists between "BEGIN columns" and "END columns"
-- give the columns and their types (mlab-hpc regenerates them from mlab_hpc/schema.py on load).
-- Files written with an older schema read with NULL in the columns they lack.

CREATE OR REPLACE MACRO mlab_root() AS coalesce(getvariable('mlab_results'), 'results');
CREATE OR REPLACE MACRO mlab_sentinel() AS
    coalesce(getvariable('mlab_analysis'), 'analysis') || '/empty.parquet';

CREATE OR REPLACE MACRO mlab_keep(c) AS
    getvariable('mlab_campaigns') IS NULL OR list_contains(getvariable('mlab_campaigns'), c);

-- BEGIN found
SET VARIABLE mlab_found_runs =
    (SELECT list(file) FROM glob(mlab_root() || '/tables/runs/**/*.parquet'));
SET VARIABLE mlab_found_steps =
    (SELECT list(file) FROM glob(mlab_root() || '/tables/steps/**/*.parquet'));
SET VARIABLE mlab_found_scores =
    (SELECT list(file) FROM glob(mlab_root() || '/tables/scores/**/*.parquet'));
SET VARIABLE mlab_found_llm_calls =
    (SELECT list(file) FROM glob(mlab_root() || '/tables/llm_calls/**/*.parquet'));
-- END found

-- Wilson score interval (95%) of a proportion k/n; NULL when n = 0.
CREATE OR REPLACE MACRO mlab_wilson_low(k, n) AS
    CASE WHEN n > 0 THEN greatest(0.0,
        (k::DOUBLE / n + 1.959963984540054 ^ 2 / (2.0 * n)
         - 1.959963984540054 * sqrt((k::DOUBLE / n) * (1 - k::DOUBLE / n) / n
                                    + 1.959963984540054 ^ 2 / (4.0 * n * n)))
        / (1 + 1.959963984540054 ^ 2 / n)) END;
CREATE OR REPLACE MACRO mlab_wilson_high(k, n) AS
    CASE WHEN n > 0 THEN least(1.0,
        (k::DOUBLE / n + 1.959963984540054 ^ 2 / (2.0 * n)
         + 1.959963984540054 * sqrt((k::DOUBLE / n) * (1 - k::DOUBLE / n) / n
                                    + 1.959963984540054 ^ 2 / (4.0 * n * n)))
        / (1 + 1.959963984540054 ^ 2 / n)) END;

-- Direction-aware relative change of a score over the baseline (positive: better).
CREATE OR REPLACE MACRO mlab_improvement(score, baseline, direction) AS
    CASE WHEN score IS NOT NULL AND baseline IS NOT NULL AND baseline <> 0 AND isfinite(baseline)
              AND direction IN ('higher', 'lower')
         THEN (CASE direction WHEN 'higher' THEN score - baseline ELSE baseline - score END)
              / abs(baseline) END;

-- ------------------------------------------------------------------------------ the tables
CREATE OR REPLACE VIEW runs AS
SELECT * EXCLUDE (empty) FROM (
    SELECT
        NULL::BOOLEAN AS empty,
        -- BEGIN columns runs
        NULL::INTEGER AS schema_version,
        NULL::VARCHAR AS run_id,
        NULL::VARCHAR AS campaign,
        NULL::VARCHAR AS task,
        NULL::VARCHAR AS task_version,
        NULL::VARCHAR AS agent,
        NULL::VARCHAR AS model,
        NULL::BIGINT AS seed,
        NULL::VARCHAR AS status,
        NULL::VARCHAR AS exit_reason,
        NULL::VARCHAR AS error,
        NULL::TIMESTAMPTZ AS started_at,
        NULL::TIMESTAMPTZ AS ended_at,
        NULL::DOUBLE AS wall_s,
        NULL::BIGINT AS n_steps,
        NULL::BIGINT AS prompt_tokens,
        NULL::BIGINT AS completion_tokens,
        NULL::DOUBLE AS cost_usd,
        NULL::VARCHAR AS slurm_job_id,
        NULL::BIGINT AS slurm_array_index,
        NULL::VARCHAR AS node,
        NULL::VARCHAR AS gpu,
        NULL::BIGINT AS attempts,
        NULL::VARCHAR AS attempts_json,
        NULL::BIGINT AS requested_cpus,
        NULL::DOUBLE AS requested_mem_gb,
        NULL::BIGINT AS requested_gpus,
        NULL::BIGINT AS requested_time_min,
        NULL::VARCHAR AS sandbox,
        NULL::VARCHAR AS data_mode,
        NULL::BOOLEAN AS smoke,
        NULL::VARCHAR AS env_id,
        NULL::VARCHAR AS image_digest,
        NULL::VARCHAR AS harness_version,
        NULL::VARCHAR AS metric,
        NULL::VARCHAR AS direction,
        NULL::DOUBLE AS final_score,
        NULL::BOOLEAN AS final_valid,
        NULL::DOUBLE AS best_score,
        NULL::DOUBLE AS baseline_score,
        NULL::DOUBLE AS improvement,
        NULL::VARCHAR AS hr_metric,
        NULL::DOUBLE AS naive_score,
        NULL::DOUBLE AS human_score,
        NULL::DOUBLE AS naive_normalized,
        NULL::DOUBLE AS human_normalized,
        NULL::DOUBLE AS final_normalized,
        NULL::DOUBLE AS best_normalized,
        NULL::DOUBLE AS human_relative,
        NULL::BOOLEAN AS success,
        NULL::DOUBLE AS agent_reported,
        NULL::BOOLEAN AS reported_disagrees
        -- END columns runs
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(
        list_concat(coalesce(getvariable('mlab_src_runs'), getvariable('mlab_found_runs'), []),
                    [mlab_sentinel()]),
        union_by_name = true)
)
WHERE mlab_keep(campaign);

CREATE OR REPLACE VIEW steps AS
SELECT * EXCLUDE (empty) FROM (
    SELECT
        NULL::BOOLEAN AS empty,
        -- BEGIN columns steps
        NULL::INTEGER AS schema_version,
        NULL::VARCHAR AS run_id,
        NULL::VARCHAR AS campaign,
        NULL::VARCHAR AS task,
        NULL::BIGINT AS step,
        NULL::VARCHAR AS action,
        NULL::VARCHAR AS args,
        NULL::VARCHAR AS thought,
        NULL::VARCHAR AS observation,
        NULL::TIMESTAMPTZ AS started_at,
        NULL::DOUBLE AS duration_s,
        NULL::BIGINT AS exit_code,
        NULL::VARCHAR AS error_kind,
        NULL::VARCHAR AS snapshot_id
        -- END columns steps
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(
        list_concat(coalesce(getvariable('mlab_src_steps'), getvariable('mlab_found_steps'), []),
                    [mlab_sentinel()]),
        union_by_name = true)
)
WHERE mlab_keep(campaign);

CREATE OR REPLACE VIEW scores AS
SELECT * EXCLUDE (empty) FROM (
    SELECT
        NULL::BOOLEAN AS empty,
        -- BEGIN columns scores
        NULL::INTEGER AS schema_version,
        NULL::VARCHAR AS run_id,
        NULL::VARCHAR AS campaign,
        NULL::VARCHAR AS task,
        NULL::BIGINT AS step,
        NULL::VARCHAR AS snapshot_id,
        NULL::DOUBLE AS raw_score,
        NULL::DOUBLE AS hr_raw_score,
        NULL::DOUBLE AS normalized_score,
        NULL::BOOLEAN AS valid,
        NULL::VARCHAR AS reason,
        NULL::VARCHAR AS metrics,
        NULL::DOUBLE AS agent_reported,
        NULL::DOUBLE AS grade_s
        -- END columns scores
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(
        list_concat(coalesce(getvariable('mlab_src_scores'), getvariable('mlab_found_scores'), []),
                    [mlab_sentinel()]),
        union_by_name = true)
)
WHERE mlab_keep(campaign);

CREATE OR REPLACE VIEW llm_calls AS
SELECT * EXCLUDE (empty) FROM (
    SELECT
        NULL::BOOLEAN AS empty,
        -- BEGIN columns llm_calls
        NULL::INTEGER AS schema_version,
        NULL::VARCHAR AS run_id,
        NULL::VARCHAR AS campaign,
        NULL::VARCHAR AS task,
        NULL::BIGINT AS step,
        NULL::VARCHAR AS purpose,
        NULL::VARCHAR AS role,
        NULL::VARCHAR AS model,
        NULL::VARCHAR AS session,
        NULL::BIGINT AS attempt,
        NULL::TIMESTAMPTZ AS started_at,
        NULL::BIGINT AS prompt_tokens,
        NULL::BIGINT AS completion_tokens,
        NULL::DOUBLE AS cost_usd,
        NULL::DOUBLE AS latency_s,
        NULL::VARCHAR AS prompt,
        NULL::VARCHAR AS completion,
        NULL::VARCHAR AS error
        -- END columns llm_calls
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(
        list_concat(coalesce(getvariable('mlab_src_llm_calls'), getvariable('mlab_found_llm_calls'), []),
                    [mlab_sentinel()]),
        union_by_name = true)
)
WHERE mlab_keep(campaign);

-- ---------------------------------------------------------------------------- derived views

-- One row per run, every run (whatever its status), with the outcome columns recomputed from
-- the recorded scores (mlab_hpc/scoring.py):
--   improvement_final  direction-aware relative change of the final score over the baseline
--                      agent's mean score; NULL when the final submission is invalid or the
--                      baseline is unknown or zero
--   success_<t>        improvement_final > t% (5, 10, 15, 20, 30); false, never NULL, for an
--                      invalid final submission or a run that did not complete: they count as
--                      failures in every success rate. success_10 is MLAgentBench's success.
--   human_relative     as recorded: best snapshot's normalised score (never below naive;
--                      invalid snapshots count as naive) relative to naive (0) and human (1)
CREATE OR REPLACE VIEW run_outcomes AS
SELECT
    *,
    coalesce(model, '') AS model_label,
    status = 'completed' AS completed,
    coalesce(final_valid, false) AND final_score IS NOT NULL AS valid_final,
    mlab_improvement(CASE WHEN final_valid THEN final_score END, baseline_score, direction)
        AS improvement_final,
    mlab_improvement(best_score, baseline_score, direction) AS improvement_best,
    coalesce(improvement_final > 0.05, false) AS success_5,
    coalesce(improvement_final > 0.10, false) AS success_10,
    coalesce(improvement_final > 0.15, false) AS success_15,
    coalesce(improvement_final > 0.20, false) AS success_20,
    coalesce(improvement_final > 0.30, false) AS success_30
FROM runs;

-- The best score so far at every graded step of every run (step 0 is the starting workspace).
-- best_raw is direction-aware; invalid snapshots (raw_score NULL) never raise it, and it is
-- NULL until the first valid one; best_normalized likewise, on the normalised scale;
-- best_improvement is best_raw's change over the baseline (as improvement_final).
CREATE OR REPLACE VIEW best_so_far AS
SELECT
    s.run_id, s.campaign, s.task, r.agent, coalesce(r.model, '') AS model_label, s.step,
    s.raw_score, s.normalized_score, s.valid,
    CASE WHEN r.direction = 'lower' THEN min(s.raw_score) OVER w ELSE max(s.raw_score) OVER w END
        AS best_raw,
    max(s.normalized_score) OVER w AS best_normalized,
    mlab_improvement(
        CASE WHEN r.direction = 'lower' THEN min(s.raw_score) OVER w
             ELSE max(s.raw_score) OVER w END,
        r.baseline_score, r.direction) AS best_improvement
FROM scores s JOIN runs r USING (run_id)
WINDOW w AS (PARTITION BY s.run_id ORDER BY s.step
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);

-- Steps that went wrong, in categories a reader compares across agents:
--   timeout (the action ran past its limit), oom (killed for memory), format (arguments or
--   action names the harness could not use), llm (an LLM call failed), script_error (a script
--   exited non-zero), other.
CREATE OR REPLACE VIEW step_errors AS
SELECT
    run_id, campaign, task, step, action, error_kind, exit_code,
    CASE
        WHEN error_kind = 'timeout' THEN 'timeout'
        WHEN error_kind IN ('oom', 'out_of_memory') THEN 'oom'
        WHEN error_kind = 'nonzero_exit' AND (exit_code IN (137, -9)
             OR observation ILIKE '%MemoryError%' OR observation ILIKE '%out of memory%')
            THEN 'oom'
        WHEN error_kind IN ('bad_arguments', 'unknown_action', 'format_error', 'parse_error')
            THEN 'format'
        WHEN error_kind ILIKE 'llm%' THEN 'llm'
        WHEN error_kind = 'nonzero_exit' THEN 'script_error'
        ELSE 'other'
    END AS category
FROM steps
WHERE error_kind IS NOT NULL;
