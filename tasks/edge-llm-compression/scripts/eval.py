"""Grader for the edge-llm-compression task (both forms: full and mini-edge-llm-compression).

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Loads the Hugging Face model directory WS/output/ in a nested sandbox (no network, the answer
key hidden) and evaluates it with lm-eval-harness through mlab_model_eval: accuracy on the
MMLU-format questions of ANS/mmlu_test.jsonl (the score, "accuracy" = mmlu_acc), perplexity
on ANS/perplexity_test.jsonl, and the generic figures (parameters, bytes, tokens per second,
latency). Refused: a directory over the form's max_bytes, a model over its max_parameters, and
weights in any dtype but float16, bfloat16 or float32 (no quantisation), whether the
safetensors headers declare it or the loaded model has it.

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
