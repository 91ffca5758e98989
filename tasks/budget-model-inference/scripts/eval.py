"""Grader for the budget-model-inference task (both forms: full and mini-budget-model-inference).

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Runs the predictor WS/output/predict.py (load, then predict per batch) in a nested sandbox
that sees neither ANS nor OUT's folder, feeds it the hidden UltraMNIST test images of
ANS/test_images.npy over a pipe, and scores the time-capped accuracy of the predicted digit
sums against ANS/test_labels.npy (see mlab_vision_eval). The caps (bytes of output/, GPU
memory), the batch size and the time cap per image are the task form's [params] in
task.toml, which the harness passes in $MLAB_TASK_PARAMS.
"""

from __future__ import annotations

try:
    from mlab_vision_eval import main, vision_rules
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_vision_eval import main, vision_rules

if __name__ == "__main__":
    main(vision_rules("score", "time_capped_accuracy"), __doc__)
