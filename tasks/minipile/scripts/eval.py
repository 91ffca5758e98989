"""Grader for the mini-minipile task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Loads the Hugging Face model directory WS/output/ in a nested sandbox (no network, the answer
key hidden) and evaluates it with lm-eval-harness through mlab_model_eval, zero-shot, on two
SuperGLUE tasks: BoolQ (ANS/boolq_test.jsonl) and RTE (ANS/rte_test.jsonl). The score,
"superglue_accuracy", is the mean of boolq_acc and rte_acc; perplexity on held-out MiniPile
documents (ANS/perplexity_test.jsonl) and the generic figures are reported beside it. A model
over MAX_PARAMETERS parameters or MAX_BYTES bytes is refused.
"""

from __future__ import annotations

try:
    from mlab_model_eval import LocalTask, ModelRules, main
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_model_eval import LocalTask, ModelRules, main

MAX_PARAMETERS = 200_000_000
MAX_BYTES = 2 * 1024**3

RULES = ModelRules(
    tasks=(
        LocalTask("boolq", "yes_no", "boolq_test.jsonl"),
        LocalTask("rte", "entailment", "rte_test.jsonl"),
        LocalTask("minipile_test", "rolling", "perplexity_test.jsonl"),
    ),
    primary=("superglue_accuracy", ("boolq_acc", "rte_acc")),
    max_parameters=MAX_PARAMETERS,
    max_bytes=MAX_BYTES,
)

if __name__ == "__main__":
    main(RULES, __doc__)
