-- Success rate at 5, 10, 15, 20 and 30% improvement over the baseline agent's mean score
-- (direction-aware, final submission), per task x agent x model; every run counts.
-- 95% Wilson intervals.
SELECT
    task,
    agent,
    model_label AS model,
    kind,
    count(*) AS n_runs,
    count(success_10) AS n_known,
    avg(success_5::INTEGER) AS success_5,
    mlab_wilson_low(sum(success_5::INTEGER), count(success_5)) AS success_5_lo,
    mlab_wilson_high(sum(success_5::INTEGER), count(success_5)) AS success_5_hi,
    avg(success_10::INTEGER) AS success_10,
    mlab_wilson_low(sum(success_10::INTEGER), count(success_10)) AS success_10_lo,
    mlab_wilson_high(sum(success_10::INTEGER), count(success_10)) AS success_10_hi,
    avg(success_15::INTEGER) AS success_15,
    mlab_wilson_low(sum(success_15::INTEGER), count(success_15)) AS success_15_lo,
    mlab_wilson_high(sum(success_15::INTEGER), count(success_15)) AS success_15_hi,
    avg(success_20::INTEGER) AS success_20,
    mlab_wilson_low(sum(success_20::INTEGER), count(success_20)) AS success_20_lo,
    mlab_wilson_high(sum(success_20::INTEGER), count(success_20)) AS success_20_hi,
    avg(success_30::INTEGER) AS success_30,
    mlab_wilson_low(sum(success_30::INTEGER), count(success_30)) AS success_30_lo,
    mlab_wilson_high(sum(success_30::INTEGER), count(success_30)) AS success_30_hi
FROM run_outcomes
GROUP BY ALL
ORDER BY task, agent, model, kind;
