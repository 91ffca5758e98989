"""Grader for the clrs task (Floyd-Warshall of the CLRS-30 benchmark).

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Loads the agent's saved model the way the task describes it: in WS, `import model`, then
`params = dict(numpy.load("checkpoints/params.npz"))` and `model.predict(params, inputs)` for
each test graph of ANS/test.npz, one graph at a time (inputs: pos (1, n), A and adj (1, n, n),
float32). The model runs in a child process that never sees the true pointers; the parent
checks what it returns and reports

    score          the fraction of entries (i, j) of the predecessor matrices predicted right,
                   over all test graphs (CLRS-30's test score of floyd_warshall)
    graphs_exact   the fraction of test graphs whose whole matrix is right, for people

Invalid, with a one-line reason: model.py or checkpoints/params.npz missing, the model
failing to load or to predict (the last line of its error), running past the time budget, or
returning something that is not an integer array of shape (1, n, n) with values in [0, n).
A missing answer key is the grader's own fault: it exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

try:
    from mlab_untrusted import run_captured, untrusted_command
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_untrusted import run_captured, untrusted_command

ANSWER_NAME = "test.npz"
MODEL_NAME = "model.py"
PARAMS_NAME = "checkpoints/params.npz"
INPUTS = ("pos", "A", "adj")
TIME_BUDGET_S = float(os.environ.get("CLRS_GRADER_BUDGET_S", "1500"))

# Run in the child, in the workspace: load the model, predict every graph, save the results.
CHILD = """
import sys
import numpy as np
sys.path.insert(0, ".")
sys.dont_write_bytecode = True
inputs_path, out_path = sys.argv[1], sys.argv[2]
import model
with np.load("checkpoints/params.npz", allow_pickle=False) as saved:
    params = {key: saved[key] for key in saved.files}
with np.load(inputs_path) as data:
    graphs = {key: data[key] for key in data.files}
predictions = {}
for g in range(len(graphs["pos"])):
    one = {key: graphs[key][g : g + 1] for key in ("pos", "A", "adj")}
    predictions[f"graph_{g}"] = np.asarray(model.predict(params, one))
np.savez(out_path, **predictions)
"""


class InvalidSubmission(Exception):
    """The model cannot be scored; the message is the one-line reason."""


def one_line(text: str, limit: int = 300) -> str:
    """The last non-empty line of `text`, whitespace folded, at most `limit` characters."""
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else "no error message"
    return last if len(last) <= limit else last[: limit - 3] + "..."


def run_model(
    workspace: Path, inputs: dict[str, np.ndarray], budget_s: float, hide: list[Path]
) -> tuple[list[Any], bool]:
    """The model's prediction for every test graph, computed in a child process.

    The child runs through mlab_untrusted: `hide` (the answer folder, the grader's output
    folder) is masked from it and it may write only its scratch folder, which holds the
    inputs (no pointers) and receives the predictions. Also returns whether the masking held.
    """
    for name in (MODEL_NAME, PARAMS_NAME):
        if not (workspace / name).is_file():
            raise InvalidSubmission(f"{name} is missing from the workspace")
    with tempfile.TemporaryDirectory(prefix="clrs-grader-") as scratch:
        inputs_path = Path(scratch) / "inputs.npz"
        out_path = Path(scratch) / "predictions.npz"
        np.savez(inputs_path, **inputs)
        child = untrusted_command(
            [sys.executable, "-c", CHILD, str(inputs_path), str(out_path)],
            hide=hide,
            scratch=Path(scratch),
            cwd=workspace,
        )
        env = {**child.env, "PYTHONDONTWRITEBYTECODE": "1"}
        done = run_captured(child.argv, cwd=workspace, timeout_s=budget_s, env=env)
        if done.returncode is None:
            raise InvalidSubmission(
                f"the model did not predict the test graphs within {budget_s:.0f} s"
            )
        if done.returncode != 0:
            reason = one_line(done.stderr or done.stdout)
            raise InvalidSubmission(f"the model failed (exit {done.returncode}): {reason}")
        try:
            with np.load(out_path, allow_pickle=False) as saved:
                predictions = [saved[f"graph_{g}"] for g in range(len(inputs["pos"]))]
        except (OSError, KeyError, ValueError) as error:
            raise InvalidSubmission(f"the model's predictions cannot be read: {error}") from None
    return predictions, child.hidden


def check_prediction(graph: int, predicted: np.ndarray, nodes: int) -> np.ndarray:
    """The predicted pointers of one graph as (n, n) integers, or InvalidSubmission."""
    if predicted.shape != (1, nodes, nodes):
        raise InvalidSubmission(
            f"model.predict returned shape {predicted.shape} for test graph {graph}, "
            f"not (1, {nodes}, {nodes})"
        )
    if predicted.dtype.kind not in "iuf":
        raise InvalidSubmission(f"model.predict returned {predicted.dtype} values, not integers")
    values = predicted.astype(np.float64)
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        raise InvalidSubmission(
            f"model.predict returned values that are not whole node numbers for test graph {graph}"
        )
    if ((values < 0) | (values >= nodes)).any():
        raise InvalidSubmission(
            f"model.predict returned a pointer outside 0..{nodes - 1} for test graph {graph}"
        )
    return values.astype(np.int64)[0]


def score(predictions: list[np.ndarray], truth: np.ndarray) -> dict[str, float]:
    """The share of right pointers over all entries, and the share of graphs right in full."""
    nodes = truth.shape[1]
    checked = np.stack([check_prediction(g, p, nodes) for g, p in enumerate(predictions)])
    right = checked == truth
    return {
        "score": float(right.mean()),
        "graphs_exact": float(right.all(axis=(1, 2)).mean()),
    }


def grade(
    workspace: Path, answers_dir: Path, out_dir: Path, budget_s: float = TIME_BUDGET_S
) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    answer_path = answers_dir / ANSWER_NAME
    if not answer_path.is_file():
        sys.exit(f"eval.py: the answer key {answer_path} is missing; run prepare first")
    with np.load(answer_path) as answers:
        inputs = {key: answers[key].astype(np.float32) for key in INPUTS}
        truth = answers["pi"].astype(np.int64)
    try:
        predictions, hidden = run_model(workspace, inputs, budget_s, [answers_dir, out_dir])
        metrics = {**score(predictions, truth), "answers_hidden": float(hidden)}
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


def main() -> None:
    """Parse the command line, grade, write OUT.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    out = args.out.resolve()
    result = grade(args.workspace.resolve(), args.answers.resolve(), out.parent)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
