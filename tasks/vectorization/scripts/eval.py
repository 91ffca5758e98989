"""Grader for the vectorization task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Imports the workspace's train.py as a module, builds its `Conv2D` layer with weights drawn
from a seed the agent never sees, checks `forward` against an independent reference
implementation (on the benchmark problem and on two small problems with other strides,
paddings and activations), then times `forward` on the benchmark problem: the metric
`run_time_s` is the best of three timed calls, each on fresh input and each checked.

The number the agent appended to submission.csv is recorded (its last line) as
`agent_reported`, never used as the score. ANS is unused: the task has no data.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

# One BLAS thread, set before numpy loads: the task grants one CPU, and timings taken on
# nodes with different core counts must stay comparable.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import numpy as np  # noqa: E402

GRADER_SEED = 860_217
TIMED_RUNS = 3
TIMING_BUDGET_S = 240.0  # no further timed call is started once this much time was spent
RTOL = 1e-5
ATOL = 1e-6
SCRIPT_NAME = "train.py"
SUBMISSION_NAME = "submission.csv"

T = TypeVar("T")


class InvalidSubmission(Exception):
    """The workspace cannot be scored; the message is the one-line reason."""


@dataclass(frozen=True)
class Problem:
    """One convolution problem: input and layer shapes and the layer's options."""

    batch: int
    height: int
    width: int
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    use_relu: bool

    def label(self) -> str:
        """Describe the problem in a few words, for reasons."""
        return (
            f"input {self.batch}x{self.height}x{self.width}x{self.in_channels}, "
            f"{self.out_channels} filters {self.kernel}x{self.kernel}, stride {self.stride}, "
            f"padding {self.padding}, relu {self.use_relu}"
        )


# The timed problem is the one the starter's main() times.
BENCHMARK = Problem(10, 32, 40, 3, 16, 3, 1, 1, True)
# Small problems that catch a forward pass which only handles the benchmark's options.
EXTRA_PROBLEMS = (
    Problem(2, 11, 9, 3, 5, 3, 2, 0, True),
    Problem(3, 8, 7, 2, 4, 5, 1, 2, False),
)


def reference_forward(
    images: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    stride: int,
    padding: int,
    use_relu: bool,
) -> np.ndarray:
    """The grader's own convolution: one matrix product per kernel offset."""
    batch, height, width, _ = images.shape
    kernel_height, kernel_width, _, out_channels = weights.shape
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    out_height = (height + 2 * padding - kernel_height) // stride + 1
    out_width = (width + 2 * padding - kernel_width) // stride + 1
    output = np.empty((batch, out_height, out_width, out_channels))
    output[...] = bias
    for dy in range(kernel_height):
        for dx in range(kernel_width):
            rows = slice(dy, dy + stride * (out_height - 1) + 1, stride)
            cols = slice(dx, dx + stride * (out_width - 1) + 1, stride)
            output += padded[:, rows, cols, :] @ weights[dy, dx]
    return np.maximum(output, 0.0) if use_relu else output


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so that a reason fits on one line, and cut it to `limit` chars."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def call_agent(what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call agent code; any exception it raises makes the submission invalid."""
    try:
        return function(*args, **kwargs)
    except (Exception, SystemExit) as error:  # agent code may raise anything
        raise InvalidSubmission(
            one_line(f"{what} raised {type(error).__name__}: {error}")
        ) from None


def load_agent_module(workspace: Path) -> ModuleType:
    """Import the workspace's train.py under a private name, without running its main."""
    path = workspace / SCRIPT_NAME
    if not path.is_file():
        raise InvalidSubmission(f"{SCRIPT_NAME} is missing from the workspace")
    spec = importlib.util.spec_from_file_location("agent_train", path)
    if spec is None or spec.loader is None:
        raise InvalidSubmission(f"{SCRIPT_NAME} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    call_agent(f"importing {SCRIPT_NAME}", spec.loader.exec_module, module)
    if not callable(getattr(module, "Conv2D", None)):
        raise InvalidSubmission(f"{SCRIPT_NAME} defines no Conv2D class")
    return module


def make_inputs(problem: Problem, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, weights and bias of `problem`, drawn from `seed`."""
    rng = np.random.default_rng([GRADER_SEED, seed])
    fan_in = problem.kernel * problem.kernel * problem.in_channels
    images = rng.standard_normal(
        (problem.batch, problem.height, problem.width, problem.in_channels)
    )
    shape = (problem.kernel, problem.kernel, problem.in_channels, problem.out_channels)
    weights = rng.standard_normal(shape) / math.sqrt(fan_in)
    bias = 0.1 * rng.standard_normal(problem.out_channels)
    return images, weights, bias


def build_layer(module: ModuleType, problem: Problem, weights: np.ndarray, bias: np.ndarray) -> Any:
    """The agent's layer for `problem`, given copies of the grader's parameters."""
    return call_agent(
        "Conv2D(...)",
        module.Conv2D,
        weights.copy(),
        bias.copy(),
        stride=problem.stride,
        padding=problem.padding,
        use_relu=problem.use_relu,
    )


def check_output(output: object, expected: np.ndarray, problem: Problem) -> None:
    """Raise InvalidSubmission unless `output` matches `expected` within the tolerance."""
    try:
        values = np.asarray(output, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidSubmission(
            f"forward returned {type(output).__name__}, not an array of numbers"
        ) from None
    if values.shape != expected.shape:
        raise InvalidSubmission(
            f"forward output has shape {values.shape}, expected {expected.shape} "
            f"({problem.label()})"
        )
    if not np.all(np.isfinite(values)):
        raise InvalidSubmission(f"forward output holds NaN or inf ({problem.label()})")
    if not np.allclose(values, expected, rtol=RTOL, atol=ATOL):
        worst = float(np.max(np.abs(values - expected)))
        raise InvalidSubmission(
            f"forward output differs from the reference convolution by up to {worst:.3g} "
            f"(allowed: rtol {RTOL:g}, atol {ATOL:g}; {problem.label()})"
        )


def check_extra_problems(module: ModuleType) -> None:
    """The forward pass must stay correct for other strides, paddings and activations."""
    for index, problem in enumerate(EXTRA_PROBLEMS, start=100):
        images, weights, bias = make_inputs(problem, index)
        layer = build_layer(module, problem, weights, bias)
        output = call_agent("forward", layer.forward, images.copy())
        expected = reference_forward(
            images, weights, bias, problem.stride, problem.padding, problem.use_relu
        )
        check_output(output, expected, problem)


def time_benchmark(module: ModuleType) -> float:
    """Best wall time in seconds of the agent's forward on the benchmark problem.

    Every timed call gets fresh images (so a cached result cannot help) and is checked.
    """
    _, weights, bias = make_inputs(BENCHMARK, 0)
    layer = build_layer(module, BENCHMARK, weights, bias)
    times: list[float] = []
    started = time.perf_counter()
    for run in range(TIMED_RUNS):
        images = make_inputs(BENCHMARK, run + 1)[0]
        expected = reference_forward(
            images, weights, bias, BENCHMARK.stride, BENCHMARK.padding, BENCHMARK.use_relu
        )
        agent_images = images.copy()
        start = time.perf_counter()
        output = call_agent("forward", layer.forward, agent_images)
        times.append(time.perf_counter() - start)
        check_output(output, expected, BENCHMARK)
        if time.perf_counter() - started > TIMING_BUDGET_S:
            break
    return min(times)


def read_agent_reported(workspace: Path) -> float | None:
    """The last number the agent appended to submission.csv, or None."""
    path = workspace / SUBMISSION_NAME
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return None
    if not lines:
        return None
    try:
        value = float(lines[-1].split(",")[-1])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def grade(workspace: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    agent_reported = read_agent_reported(workspace)
    try:
        module = load_agent_module(workspace)
        check_extra_problems(module)
        run_time = time_benchmark(module)
    except InvalidSubmission as invalid:
        return {
            "valid": False,
            "reason": str(invalid),
            "metrics": {},
            "agent_reported": agent_reported,
        }
    return {
        "valid": True,
        "reason": "",
        "metrics": {"run_time_s": run_time},
        "agent_reported": agent_reported,
    }


def main() -> None:
    """Parse the command line, grade, write OUT.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True, help="unused: no answer key")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    workspace = args.workspace.resolve()
    out = args.out.resolve()

    sys.dont_write_bytecode = True  # the workspace is read-only: leave no __pycache__ there
    sys.path.insert(0, str(workspace))  # train.py may import its neighbours
    os.chdir(workspace)  # the harness already starts us here; make it hold when run by hand
    result = grade(workspace)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
