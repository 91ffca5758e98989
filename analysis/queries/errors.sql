-- Steps that went wrong, by category (timeout, oom, format, llm, script_error, other; see
-- step_errors in views.sql), per task x agent x model: the steps, the runs they hit, and the
-- share of the cell's runs hit at least once (95% Wilson interval).
WITH cells AS (
    SELECT task, agent, model_label, kind, count(*) AS cell_runs
    FROM run_outcomes
    GROUP BY ALL
)
SELECT
    r.task,
    r.agent,
    r.model_label AS model,
    r.kind,
    e.category,
    count(*) AS n_steps,
    count(DISTINCT e.run_id) AS n_runs_hit,
    any_value(c.cell_runs) AS of_runs,
    n_runs_hit / of_runs AS share_hit,
    mlab_wilson_low(n_runs_hit, of_runs) AS share_hit_lo,
    mlab_wilson_high(n_runs_hit, of_runs) AS share_hit_hi
FROM step_errors e
JOIN run_outcomes r USING (run_id)
JOIN cells c ON c.task = r.task AND c.agent = r.agent AND c.model_label = r.model_label
     AND c.kind = r.kind
GROUP BY r.task, r.agent, r.model_label, r.kind, e.category
ORDER BY r.task, r.agent, model, r.kind, n_steps DESC, e.category;
