"""Grader for the budget-model-training task (both forms: full and mini-budget-model-training).

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Runs the predictor WS/output/predict.py (load, then predict per batch) in a nested sandbox
that sees neither ANS nor OUT's folder, feeds it the hidden test images of ANS/test_images.npy
over a pipe, and scores accuracy^2 / inference minutes against ANS/test_labels.npy (see
mlab_vision_eval). The caps (bytes of output/, parameters, GPU memory), the batch size and
the time floor are the task form's [params] in task.toml, which the harness passes in
$MLAB_TASK_PARAMS.
"""

from __future__ import annotations

try:
    from mlab_vision_eval import main, vision_rules
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_vision_eval import main, vision_rules

if __name__ == "__main__":
    main(vision_rules("score", "accuracy_squared_per_minute"), __doc__)
