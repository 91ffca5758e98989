-- How runs ended, per task x agent x model: status (completed, timeout, failed, llm_error,
-- budget, preempted, ...) and exit reason (final_answer, max_steps, max_time, agent_error,
-- crashed, ...), with the share of the cell's runs and its 95% Wilson interval.
WITH cells AS (
    SELECT task, agent, model_label, kind, count(*) AS cell_runs
    FROM run_outcomes
    GROUP BY ALL
)
SELECT
    task,
    agent,
    model_label AS model,
    kind,
    coalesce(status, '(none)') AS status,
    coalesce(exit_reason, '(none)') AS exit_reason,
    count(*) AS n_runs,
    any_value(cell_runs) AS of_runs,
    n_runs / of_runs AS share,
    mlab_wilson_low(n_runs, of_runs) AS share_lo,
    mlab_wilson_high(n_runs, of_runs) AS share_hi
FROM run_outcomes JOIN cells USING (task, agent, model_label, kind)
GROUP BY task, agent, model_label, kind, status, exit_reason
ORDER BY task, agent, model, kind, n_runs DESC, status, exit_reason;
