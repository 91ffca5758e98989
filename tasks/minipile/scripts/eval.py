"""Grader for the minipile task (both forms: full and mini-minipile).

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Loads the Hugging Face model directory WS/output/ in a nested sandbox (no network, the answer
key hidden) and evaluates it with lm-eval-harness through mlab_model_eval, zero-shot, on two
SuperGLUE tasks: BoolQ (ANS/boolq_test.jsonl) and RTE (ANS/rte_test.jsonl). The score,
"superglue_accuracy", is the mean of boolq_acc and rte_acc; perplexity on held-out MiniPile
documents (ANS/perplexity_test.jsonl) and the generic figures are reported beside it. A model
over the form's caps is refused.

The caps (max_parameters, max_bytes, allowed_dtypes) are the task form's [params] in
task.toml, which the harness passes in $MLAB_TASK_PARAMS.
"""

from __future__ import annotations

try:
    from mlab_model_eval import LocalTask, main, model_rules
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_model_eval import LocalTask, main, model_rules

TASKS = (
    LocalTask("boolq", "yes_no", "boolq_test.jsonl"),
    LocalTask("rte", "entailment", "rte_test.jsonl"),
    LocalTask("minipile_test", "rolling", "perplexity_test.jsonl"),
)
PRIMARY = ("superglue_accuracy", ("boolq_acc", "rte_acc"))

if __name__ == "__main__":
    main(model_rules(TASKS, PRIMARY), __doc__)
