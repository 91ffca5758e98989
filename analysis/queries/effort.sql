-- Steps taken and wall time (the agent's own time, seconds) per run, per task x agent x model;
-- every run counts. 95% bootstrap intervals.
--
-- mlab-hpc computes the intervals from the __values columns (per-run values).
SELECT
    task,
    agent,
    model_label AS model,
    kind,
    count(*) AS n_runs,
    avg(n_steps) AS steps,
    list(n_steps::DOUBLE ORDER BY run_id) FILTER (WHERE n_steps IS NOT NULL) AS steps__values,
    avg(wall_s) AS wall_s,
    list(wall_s ORDER BY run_id) FILTER (WHERE wall_s IS NOT NULL) AS wall_s__values,
    max(wall_s) AS max_wall_s
FROM run_outcomes
GROUP BY ALL
ORDER BY task, agent, model, kind;
