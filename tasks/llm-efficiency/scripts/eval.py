"""Grader for the mini-llm-efficiency task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Loads the Hugging Face model directory WS/output/ in a nested sandbox (no network, the answer
key hidden) and evaluates it with lm-eval-harness through mlab_model_eval: accuracy on the
MMLU-format questions of ANS/mmlu_test.jsonl (the score, "accuracy" = mmlu_acc), perplexity on
the texts of ANS/perplexity_test.jsonl, and the generic figures (parameters, tokens per second,
latency). A model over MAX_PARAMETERS parameters or MAX_BYTES bytes is refused.
"""

from __future__ import annotations

try:
    from mlab_model_eval import LocalTask, ModelRules, main
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_model_eval import LocalTask, ModelRules, main

MAX_PARAMETERS = 600_000_000  # the mini form's base (Pythia-410m, 405 M) with room to spare
MAX_BYTES = 3 * 1024**3

RULES = ModelRules(
    tasks=(
        LocalTask("mmlu", "multiple_choice", "mmlu_test.jsonl"),
        LocalTask("wikitext", "rolling", "perplexity_test.jsonl"),
    ),
    primary=("accuracy", "mmlu_acc"),
    max_parameters=MAX_PARAMETERS,
    max_bytes=MAX_BYTES,
)

if __name__ == "__main__":
    main(RULES, __doc__)
