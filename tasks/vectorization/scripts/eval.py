"""Grader for the vectorization task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Imports the workspace's train.py as a module, builds its `Conv2D` layer with weights drawn
from a seed the agent never sees, checks `forward` against an independent reference
implementation (on the benchmark problem and on two small problems with other strides,
paddings and activations), then times it by paired, interleaved measurement against the
unchanged starter (scripts/starter_train.py, a pristine copy of env/train.py) in this same
process: PAIRS repetitions, each timing the starter and the candidate back to back on the
same fresh input, their order alternating from one pair to the next. Metrics:

    run_time_s        median seconds of the candidate's forward (human-relative uses it)
    starter_time_s    median seconds of the starter's forward, measured alongside
    speedup           median over the pairs of starter time / candidate time
    speedup_low       lower end of a distribution-free 95% interval of that median
                      (an order statistic of the paired ratios)
    speedup_high      upper end of the same interval
    timing_pairs      number of pairs measured

The run succeeds only when speedup_low >= SUCCESS_SPEEDUP = 1 / 0.9 (about 1.111): the run
time must be more than 10% lower (the metric is a time, lower is better, as in MLAgentBench),
and by more than the noise measured in this very job. An unchanged submission has speedup
near 1.

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

try:
    from mlab_timing import median_interval
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_timing import median_interval

GRADER_SEED = 860_217
PAIRS = 9  # paired measurements: at 9 the 2nd smallest ratio bounds the median at 95%
MIN_PAIRS = 3  # fewer than this (the budget ran out) is too few to state a spread
MIN_MEASURE_S = 0.05  # a measurement repeats fast calls until it spans at least this long
TIMING_BUDGET_S = 300.0  # no further pair is started once this much time was spent
SUCCESS_SPEEDUP = 1 / 0.9  # run time 10% lower; the rule in the docstring (applied by analysis)
STARTER_PATH = Path(__file__).resolve().with_name("starter_train.py")
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
    return import_conv_module(path, "agent_train")


def import_conv_module(path: Path, name: str) -> ModuleType:
    """Import `path` as module `name` (its main does not run); it must define Conv2D."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidSubmission(f"{path.name} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    call_agent(f"importing {path.name}", spec.loader.exec_module, module)
    if not callable(getattr(module, "Conv2D", None)):
        raise InvalidSubmission(f"{path.name} defines no Conv2D class")
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


def timed_calls(layer: Any, inputs: list[np.ndarray]) -> tuple[float, list[Any]]:
    """Seconds per call of `layer.forward`, over one call per input, and the outputs."""
    outputs = []
    start = time.perf_counter()
    for images in inputs:
        outputs.append(call_agent("forward", layer.forward, images))
    return (time.perf_counter() - start) / len(inputs), outputs


def calls_per_measurement(
    layer: Any, images: np.ndarray, expected: np.ndarray, problem: Problem, min_measure_s: float
) -> int:
    """How many calls make one measurement span `min_measure_s` (after one warm-up call)."""
    seconds, outputs = timed_calls(layer, [images.copy()])
    check_output(outputs[0], expected, problem)
    return max(1, min(1000, math.ceil(min_measure_s / max(seconds, 1e-7))))


def paired_timing(
    module: ModuleType,
    starter: ModuleType,
    problem: Problem = BENCHMARK,
    pairs: int = PAIRS,
    budget_s: float = TIMING_BUDGET_S,
    min_measure_s: float = MIN_MEASURE_S,
) -> dict[str, float]:
    """Time the candidate's and the starter's forward in interleaved pairs on `problem`.

    Pair i draws fresh images, then times starter and candidate on copies of them (starter
    first on even i, candidate first on odd i); every candidate output is checked against the
    reference convolution. Returns the metrics listed in the module docstring.
    """
    _, weights, bias = make_inputs(problem, 0)
    layers = {
        "starter": build_layer(starter, problem, weights, bias),
        "candidate": build_layer(module, problem, weights, bias),
    }
    warm_images = make_inputs(problem, 1)[0]
    warm_expected = reference_forward(
        warm_images, weights, bias, problem.stride, problem.padding, problem.use_relu
    )
    calls = {
        name: calls_per_measurement(layer, warm_images, warm_expected, problem, min_measure_s)
        for name, layer in layers.items()
    }
    times: dict[str, list[float]] = {"starter": [], "candidate": []}
    started = time.perf_counter()
    for index in range(pairs):
        images = make_inputs(problem, index + 2)[0]
        expected = reference_forward(
            images, weights, bias, problem.stride, problem.padding, problem.use_relu
        )
        order = ("starter", "candidate") if index % 2 == 0 else ("candidate", "starter")
        for name in order:
            inputs = [images.copy() for _ in range(calls[name])]
            seconds, outputs = timed_calls(layers[name], inputs)
            times[name].append(seconds)
            if name == "candidate":
                for output in outputs:
                    check_output(output, expected, problem)
        if index + 1 >= MIN_PAIRS and time.perf_counter() - started > budget_s:
            break
    ratios = [s / c for s, c in zip(times["starter"], times["candidate"], strict=True)]
    low, high = median_interval(ratios)
    return {
        "run_time_s": float(np.median(times["candidate"])),
        "starter_time_s": float(np.median(times["starter"])),
        "speedup": float(np.median(ratios)),
        "speedup_low": low,
        "speedup_high": high,
        "timing_pairs": float(len(ratios)),
    }


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
        starter = import_conv_module(STARTER_PATH, "starter_train")
        metrics = paired_timing(module, starter)
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
        "metrics": metrics,
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
