"""Grader for the budget-model-inference task (UltraMNIST digit sums).

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Runs the predictor WS/output/predict.py (load, then predict per batch) in a nested sandbox
that sees neither ANS nor OUT's folder, feeds it the hidden test images of ANS/test_images.npy
over a pipe, and scores the time-capped accuracy against ANS/test_labels.npy. The caps
(bytes of output/, parameters, GPU memory) and the batch size come from ANS/grading.json,
which prepare.py writes from the task's parameters. See mlab_vision_eval.
"""

from __future__ import annotations

try:
    from mlab_vision_eval import main
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_vision_eval import main

if __name__ == "__main__":
    main(__doc__)
