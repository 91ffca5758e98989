"""Grader for the mini-baby-lm task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Loads the Hugging Face model directory WS/output/ in a nested sandbox (no network, the answer
key hidden) and evaluates it with lm-eval-harness through mlab_model_eval: BLiMP accuracy on
the minimal pairs of ANS/blimp_test.jsonl (the score, "blimp_accuracy" = blimp_acc: a pair is
right when the model gives the grammatical sentence the higher log-likelihood), perplexity on
the held-out lines of ANS/perplexity_test.jsonl, and the generic figures (parameters, tokens
per second, latency). A model over MAX_PARAMETERS parameters or MAX_BYTES bytes is refused.
"""

from __future__ import annotations

try:
    from mlab_model_eval import LocalTask, ModelRules, main
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_model_eval import LocalTask, ModelRules, main

MAX_PARAMETERS = 200_000_000  # BabyLM's baselines (OPT-125m, T5-base...) fit; bigger is odd
MAX_BYTES = 2 * 1024**3

RULES = ModelRules(
    tasks=(
        LocalTask("blimp", "minimal_pairs", "blimp_test.jsonl"),
        LocalTask("babylm_test", "rolling", "perplexity_test.jsonl"),
    ),
    primary=("blimp_accuracy", "blimp_acc"),
    max_parameters=MAX_PARAMETERS,
    max_bytes=MAX_BYTES,
)

if __name__ == "__main__":
    main(RULES, __doc__)
