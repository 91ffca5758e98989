-- Success rate as MLAgentBench's published plot.py computes it (view mlab_compat_outcomes):
-- runs that ended in an error are left out, scores of 0 or below count as none, plot.py's
-- baseline constants apply, and the change is divided by the baseline itself. Shown with
-- `mlab-hpc report --mlab-compat`, to set a result beside the paper's; the project's own
-- success rate (above) is the one to report. 95% Wilson interval.
SELECT
    task,
    agent,
    model_label AS model,
    kind,
    count(*) AS n_runs,
    count(compat_success) AS n_known,
    count(*) FILTER (WHERE compat_success) AS n_success,
    n_success / nullif(n_known, 0) AS success_rate,
    mlab_wilson_low(n_success, n_known) AS success_rate_lo,
    mlab_wilson_high(n_success, n_known) AS success_rate_hi,
    any_value(compat_baseline) AS baseline
FROM mlab_compat_outcomes
GROUP BY ALL
ORDER BY task, agent, model, kind;
