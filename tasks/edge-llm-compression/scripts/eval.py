"""Grader for the mini-edge-llm-compression task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Loads the Hugging Face model directory WS/output/ in a nested sandbox (no network, the answer
key hidden) and evaluates it with lm-eval-harness through mlab_model_eval: accuracy on the
MMLU-format questions of ANS/mmlu_test.jsonl (the score, "accuracy" = mmlu_acc), perplexity
on ANS/perplexity_test.jsonl, and the generic figures (parameters, bytes, tokens per second,
latency). Refused: a directory over MAX_BYTES, a model over MAX_PARAMETERS parameters, and
weights in any dtype but float16, bfloat16 or float32 (no quantisation), whether the
safetensors headers declare it or the loaded model has it.
"""

from __future__ import annotations

try:
    from mlab_model_eval import LocalTask, ModelRules, main
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_model_eval import LocalTask, ModelRules, main

MAX_BYTES = 600 * 10**6  # the base (Qwen2.5-0.5B, about 988 MB in bfloat16) must shrink
MAX_PARAMETERS = 500_000_000  # the base's own count (Qwen2.5-0.5B, 494 M): no growing

RULES = ModelRules(
    tasks=(
        LocalTask("mmlu", "multiple_choice", "mmlu_test.jsonl"),
        LocalTask("wikitext", "rolling", "perplexity_test.jsonl"),
    ),
    primary=("accuracy", "mmlu_acc"),
    max_parameters=MAX_PARAMETERS,
    max_bytes=MAX_BYTES,
    allowed_dtypes=("float16", "bfloat16", "float32"),
)

if __name__ == "__main__":
    main(RULES, __doc__)
