-- Tokens and cost per run (from the runs table), LLM calls per run (from llm_calls), per
-- task x agent x model; every run counts. 95% bootstrap intervals.
--
-- mlab-hpc computes the intervals from the __values columns (per-run values).
WITH calls AS (
    SELECT run_id, count(*) AS n_calls, count(error) AS n_call_errors
    FROM llm_calls
    GROUP BY run_id
)
SELECT
    task,
    agent,
    model_label AS model,
    kind,
    count(*) AS n_runs,
    avg(prompt_tokens) AS prompt_tokens,
    list(prompt_tokens::DOUBLE ORDER BY run_id) FILTER (WHERE prompt_tokens IS NOT NULL)
        AS prompt_tokens__values,
    avg(completion_tokens) AS completion_tokens,
    list(completion_tokens::DOUBLE ORDER BY run_id) FILTER (WHERE completion_tokens IS NOT NULL)
        AS completion_tokens__values,
    avg(cost_usd) AS cost_usd,
    list(cost_usd ORDER BY run_id) FILTER (WHERE cost_usd IS NOT NULL) AS cost_usd__values,
    sum(cost_usd) AS total_cost_usd,
    avg(coalesce(n_calls, 0)) AS llm_calls,
    list(coalesce(n_calls, 0)::DOUBLE ORDER BY run_id) AS llm_calls__values,
    sum(coalesce(n_call_errors, 0)) AS llm_call_errors
FROM run_outcomes LEFT JOIN calls USING (run_id)
GROUP BY ALL
ORDER BY task, agent, model, kind;
