"""Grader for the edge-llm-training task (both forms: full and mini-edge-llm-training).

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Loads the Hugging Face model directory WS/output/ in a nested sandbox (no network, the answer
key hidden) and evaluates it with lm-eval-harness through mlab_model_eval: accuracy on the
MMLU-format questions of ANS/mmlu_test.jsonl (the score, "accuracy" = mmlu_acc), perplexity on
the texts of ANS/perplexity_test.jsonl, and the generic figures (parameters, tokens per second,
latency). A model over the form's caps is refused.

The caps (max_parameters, max_bytes, allowed_dtypes) are the task form's [params] in
task.toml, which the harness passes in $MLAB_TASK_PARAMS.
"""

from __future__ import annotations

try:
    from mlab_model_eval import LocalTask, main, model_rules
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_model_eval import LocalTask, main, model_rules

TASKS = (
    LocalTask("mmlu", "multiple_choice", "mmlu_test.jsonl"),
    LocalTask("wikitext", "rolling", "perplexity_test.jsonl"),
)
PRIMARY = ("accuracy", "mmlu_acc")

if __name__ == "__main__":
    main(model_rules(TASKS, PRIMARY), __doc__)
