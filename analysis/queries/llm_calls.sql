-- LLM calls by agent x model of the run x purpose x model called: calls, tokens, cost, latency
-- and failed calls.
SELECT
    r.agent,
    coalesce(r.model, '') AS run_model,
    r.kind,
    c.purpose,
    c.model,
    count(*) AS n_calls,
    count(DISTINCT c.run_id) AS n_runs,
    sum(c.prompt_tokens) AS prompt_tokens,
    sum(c.completion_tokens) AS completion_tokens,
    sum(c.cost_usd) AS cost_usd,
    avg(c.latency_s) AS mean_latency_s,
    count(c.error) AS n_errors
FROM llm_calls c JOIN runs r USING (run_id)
GROUP BY ALL
ORDER BY r.agent, run_model, r.kind, c.purpose, c.model;
