-- Human-relative score of each agent x model averaged over tasks: the mean over tasks of each
-- task's mean (every task weighs the same, whatever its number of runs). 95% bootstrap
-- interval, resampling runs within each task.
--
-- mlab-hpc computes the interval from human_relative__strata (each task's per-run scores).
WITH per_task AS (
    SELECT
        agent,
        model_label AS model,
        kind,
        task,
        count(*) AS n_runs,
        count(human_relative) AS n_scored,
        avg(human_relative) AS mean_hr,
        list(human_relative ORDER BY run_id) FILTER (WHERE human_relative IS NOT NULL)
            AS hr_values
    FROM run_outcomes
    GROUP BY ALL
)
SELECT
    agent,
    model,
    kind,
    count(mean_hr) AS n_tasks,
    sum(n_runs) AS n_runs,
    sum(n_scored) AS n_scored,
    avg(mean_hr) AS human_relative,
    list(hr_values ORDER BY task) FILTER (WHERE mean_hr IS NOT NULL) AS human_relative__strata
FROM per_task
GROUP BY ALL
ORDER BY agent, model, kind;
