-- Success rate per task x agent x model: MLAgentBench's figure.
-- Success: the final submission improves on the baseline agent's mean score by more than 10%,
-- in the metric's direction. Every run counts, whatever its status: a run that failed, timed
-- out or ended with an invalid submission is a failure. The baseline is that of runs of the
-- same kind (data, smoke); while no baseline run of that kind exists success is unknown:
-- n_unknown counts those runs, and the rate rests on the others (NULL when none).
-- 95% Wilson interval.
SELECT
    task,
    agent,
    model_label AS model,
    kind,
    count(*) AS n_runs,
    count(*) FILTER (WHERE completed) AS n_completed,
    count(*) FILTER (WHERE valid_final) AS n_valid_final,
    count(*) FILTER (WHERE success_10 IS NULL) AS n_unknown,
    count(*) FILTER (WHERE success_10) AS n_success,
    n_success / nullif(n_runs - n_unknown, 0) AS success_rate,
    mlab_wilson_low(n_success, n_runs - n_unknown) AS success_rate_lo,
    mlab_wilson_high(n_success, n_runs - n_unknown) AS success_rate_hi
FROM run_outcomes
GROUP BY ALL
ORDER BY task, agent, model, kind;
