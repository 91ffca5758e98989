-- Mean improvement of the final submission over the baseline agent's mean score (relative,
-- direction-aware: 0.25 is 25% better), among runs with a valid final submission; n_runs
-- counts every run, n_valid_final those the mean rests on.
--
-- The column improvement__values lists the values; mlab-hpc turns it into a 95% bootstrap
-- interval (improvement_lo, improvement_hi).
SELECT
    task,
    agent,
    model_label AS model,
    kind,
    count(*) AS n_runs,
    count(*) FILTER (WHERE valid_final) AS n_valid_final,
    avg(improvement_final) AS improvement,
    list(improvement_final ORDER BY run_id) FILTER (WHERE improvement_final IS NOT NULL)
        AS improvement__values
FROM run_outcomes
GROUP BY ALL
ORDER BY task, agent, model, kind;
