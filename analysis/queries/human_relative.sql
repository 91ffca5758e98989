-- Human-relative score per task x agent x model: the best snapshot's normalised score (never
-- below naive; invalid snapshots count as naive) on a scale where the naive baseline is 0 and
-- the best human result 1. n_scored: runs with a human-relative score (the task's naive and
-- human anchors known). 95% bootstrap interval.
--
-- mlab-hpc computes the interval from human_relative__values (the per-run scores).
SELECT
    task,
    agent,
    model_label AS model,
    kind,
    count(*) AS n_runs,
    count(human_relative) AS n_scored,
    avg(human_relative) AS human_relative,
    list(human_relative ORDER BY run_id) FILTER (WHERE human_relative IS NOT NULL)
        AS human_relative__values
FROM run_outcomes
GROUP BY ALL
ORDER BY task, agent, model, kind;
