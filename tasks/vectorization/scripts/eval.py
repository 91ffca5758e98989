"""Grader for the vectorization task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

The agent's code never runs in the grader's process: in the grader's process it could rewrite
the clock, the statistics or the starter it is compared with. It runs in a child process
(the same script with --serve) started through mlab_untrusted, which imports the workspace's
train.py there (its main does not run) and answers requests over two pipes (mlab_channel).
A second child runs the unchanged starter (scripts/starter_train.py, a pristine copy of
env/train.py) the same way.

Correctness. The agent's Conv2D(weights, bias, stride=..., padding=..., use_relu=...) is
compared with the grader's own reference convolution on the benchmark problem and on two
small problems with other options (np.allclose, rtol RTOL, atol ATOL, exact shape, finite
values). Weights, biases and images are drawn at grading time from the operating system's
randomness, so no output can be computed before its input arrives.

Timing: paired, interleaved, replicated over processes. The grading is split into WAVES
waves; each starts a fresh candidate child and a fresh starter child (which starts first
alternates), builds the benchmark layer in both (not timed), gives each one untimed warm-up
measurement, then TIMED_PAIRS_PER_WAVE timed measurements each, taking turns (the order
alternates from pair to pair and from wave to wave). While one child is timed the other
one's whole process tree is stopped (mlab_pause). A measurement is one round trip, timed by
the grader: it sends `calls` fresh images (as many calls as make the child's warm-up span
MIN_MEASURE_S, at most MAX_CALLS) and the child answers, for each call, the dot product of
forward's output with a random vector it was given when the layer was built: a commitment
it cannot make without computing that output. Afterwards (not timed) the grader asks for the
output of one call chosen at random and checks it against the commitment and the reference,
so a child that skips or caches calls is caught. Each wave gives one ratio, the median over
its pairs of starter seconds / candidate seconds per call; the interval is taken over the
waves (mlab_timing.speedup_over_waves: with 8 waves, from the smallest wave ratio to the
largest). Metrics:

    run_time_s        median seconds per call of the candidate's forward (human-relative)
    starter_time_s    median seconds per call of the starter's forward, measured alongside
    speedup           median over waves of the wave ratio starter / candidate
    speedup_low       lower end of the distribution-free 95% interval of that median over
                      the waves (the smallest wave ratio at 6-8 waves)
    speedup_high      upper end of the same interval
    timing_waves      number of waves (pairs of fresh processes)
    timing_pairs      number of timed pairs over all waves
    answers_hidden    1 when the children ran in a nested sandbox (the grader's output
                      folder hidden from them), 0 where none could be made

The run succeeds only when speedup_low >= SUCCESS_SPEEDUP = 1 / 0.9 (about 1.111): the run
time must be more than 10% lower (the metric is a time, lower is better, as in MLAgentBench)
in every wave, each with its own pair of processes. An unchanged submission has speedup near
1. Times include the round trip (images in, commitments out: about 0.3 ms per call here), the
same for both children and for the human reference graded here.

The number the agent appended to submission.csv is recorded (its last line) as
`agent_reported`, never used as the score. ANS is unused: the task has no data.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

# One BLAS thread, set before numpy loads (the children inherit it): the task grants one CPU,
# and timings taken on nodes with different core counts must stay comparable.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import numpy as np  # noqa: E402

try:
    import mlab_channel as channel
    from mlab_pause import Pauser
    from mlab_timing import rotation, speedup_over_waves
    from mlab_untrusted import untrusted_command
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib import mlab_channel as channel
    from mlab_hpc.grader_lib.mlab_pause import Pauser
    from mlab_hpc.grader_lib.mlab_timing import rotation, speedup_over_waves
    from mlab_hpc.grader_lib.mlab_untrusted import untrusted_command

WAVES = 8  # pairs of fresh processes: the interval over 8 waves is [smallest, largest] ratio
WARMUP_PAIRS = 1  # per wave: one untimed measurement each, which also sets `calls`
TIMED_PAIRS_PER_WAVE = 2  # the starter takes ~1 s a call: 8 x 3 pairs is ~45 s of grading
MIN_MEASURE_S = 0.05  # a measurement repeats fast calls until it spans at least this long
MAX_CALLS = 64  # calls per measurement at most (each gets images of its own)
LOAD_BUDGET_S = 120.0  # importing train.py and building the layer, per child
CALL_BUDGET_S = 100.0  # one measurement beyond this is invalid (the starter: ~1 s)
TIMING_BUDGET_S = 420.0  # all the waves beyond this is invalid (grader timeout: 600 s)
SUCCESS_SPEEDUP = 1 / 0.9  # run time 10% lower; the rule in the docstring (applied by analysis)
STARTER_PATH = Path(__file__).resolve().with_name("starter_train.py")
RTOL = 1e-5
ATOL = 1e-6
COMMIT_RTOL = 1e-9  # a commitment must equal the grader's dot product of the output to this
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


def as_output(output: object, shape: tuple[int, ...], problem: Problem) -> np.ndarray:
    """forward's output as a float64 array of `shape` (InvalidSubmission if it is not one)."""
    try:
        values = np.asarray(output, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidSubmission(
            f"forward returned {type(output).__name__}, not an array of numbers"
        ) from None
    if values.shape != shape:
        raise InvalidSubmission(
            f"forward output has shape {values.shape}, expected {shape} ({problem.label()})"
        )
    return values


def check_output(output: object, expected: np.ndarray, problem: Problem) -> None:
    """Raise InvalidSubmission unless `output` matches `expected` within the tolerance."""
    values = as_output(output, expected.shape, problem)
    if not np.all(np.isfinite(values)):
        raise InvalidSubmission(f"forward output holds NaN or inf ({problem.label()})")
    if not np.allclose(values, expected, rtol=RTOL, atol=ATOL):
        worst = float(np.max(np.abs(values - expected)))
        raise InvalidSubmission(
            f"forward output differs from the reference convolution by up to {worst:.3g} "
            f"(allowed: rtol {RTOL:g}, atol {ATOL:g}; {problem.label()})"
        )


def fresh_inputs(
    problem: Problem, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, weights and bias of `problem`, drawn from `rng`."""
    fan_in = problem.kernel * problem.kernel * problem.in_channels
    images = rng.standard_normal(
        (problem.batch, problem.height, problem.width, problem.in_channels)
    )
    shape = (problem.kernel, problem.kernel, problem.in_channels, problem.out_channels)
    weights = rng.standard_normal(shape) / math.sqrt(fan_in)
    bias = 0.1 * rng.standard_normal(problem.out_channels)
    return images, weights, bias


def output_shape(problem: Problem) -> tuple[int, int, int, int]:
    """The shape of forward's output for `problem`."""
    size = lambda n: (n + 2 * problem.padding - problem.kernel) // problem.stride + 1  # noqa: E731
    return (problem.batch, size(problem.height), size(problem.width), problem.out_channels)


# --- arrays over the pipes ------------------------------------------------------------------------


def send_array(fd: int, array: np.ndarray, deadline: float = math.inf) -> None:
    """A float64 array as a message (its shape) and a frame (its bytes)."""
    data = np.ascontiguousarray(array, dtype=np.float64)
    channel.write_message(fd, {"shape": list(data.shape)}, deadline)
    channel.write_frame(fd, memoryview(data).cast("B"), deadline)


def read_array(fd: int, deadline: float = math.inf, max_bytes: int | None = None) -> np.ndarray:
    """An array written by send_array; ValueError if its bytes do not fit its shape."""
    shape = channel.read_message(fd, deadline)["shape"]
    data = channel.read_frame(fd, deadline, max_bytes)
    if not isinstance(shape, list) or 8 * math.prod(int(n) for n in shape) != len(data):
        raise ValueError(f"an array of {len(data)} bytes announced as shape {shape}")
    return np.frombuffer(data, dtype=np.float64).reshape([int(n) for n in shape])


# --- the child process: train.py ------------------------------------------------------------------


def commitment(output: object, vector: np.ndarray, problem: Problem) -> float:
    """The dot product of forward's output with `vector` (InvalidSubmission if it cannot be)."""
    return float(as_output(output, vector.shape, problem).ravel() @ vector.ravel())


def serve(read_fd: int, write_fd: int, script: Path) -> None:
    """The child: import `script`, then answer build, run and output requests until stop."""
    sys.dont_write_bytecode = True  # the workspace is read-only: leave no __pycache__ there
    sys.path.insert(0, str(script.parent))  # train.py may import its neighbours
    try:
        module = import_conv_module(script, "agent_train")
        channel.write_message(write_fd, {"status": "ready"})
        layer, problem, vector, outputs = None, BENCHMARK, np.zeros(0), []
        while True:
            request = channel.read_message(read_fd)  # from the grader: trusted
            if request.get("op") == "stop":
                return
            if request["op"] == "build":
                problem = Problem(*request["problem"])
                weights, bias, vector = (read_array(read_fd) for _ in range(3))
                layer = build_layer(module, problem, weights, bias)
                channel.write_message(write_fd, {"status": "ok"})
            elif request["op"] == "run":  # timed by the grader, images included
                images = read_array(read_fd)
                outputs = [call_agent("forward", layer.forward, batch) for batch in images]
                dots = [commitment(output, vector, problem) for output in outputs]
                channel.write_message(write_fd, {"status": "ok", "dots": dots})
            elif request["op"] == "output":
                channel.write_message(write_fd, {"status": "ok"})
                send_array(write_fd, np.asarray(outputs[request["index"]], dtype=np.float64))
    except InvalidSubmission as invalid:
        channel.write_message(write_fd, {"status": "invalid", "reason": str(invalid)})


# --- the parent: timing and checking --------------------------------------------------------------


class ConvChild:
    """A train.py (the agent's or the starter's) in a child process, over two pipes."""

    def __init__(self, script: Path, hide: list[Path], scratch: Path) -> None:
        to_child, self._to_child = os.pipe()
        self._from_child, from_child = os.pipe()
        child = untrusted_command(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(to_child),
             str(from_child), str(script)],
            hide=hide,
            scratch=scratch,
            cwd=script.parent,
        )  # fmt: skip
        self.hidden = child.hidden
        self.deadline = time.monotonic() + LOAD_BUDGET_S
        self.vector = np.zeros(0)
        self.process = subprocess.Popen(
            child.argv,
            pass_fds=(to_child, from_child),
            cwd=script.parent,
            env=child.env,
            stdin=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)

    def _failed(self, error: channel.ChannelError, what: str, budget_s: float) -> InvalidSubmission:
        return InvalidSubmission(
            channel.failure_reason(
                error, what, self.process, subject=SCRIPT_NAME, budget_s=budget_s
            )
        )

    def receive(self, what: str, budget_s: float = LOAD_BUDGET_S) -> dict[str, Any]:
        """The child's next reply (before self.deadline); InvalidSubmission if it fails."""
        try:
            reply = channel.read_message(self._from_child, self.deadline)
        except channel.ChannelError as error:
            raise self._failed(error, what, budget_s) from None
        if reply.get("status") == "invalid":
            raise InvalidSubmission(one_line(str(reply.get("reason"))))
        return reply

    def build(self, problem: Problem, weights: np.ndarray, bias: np.ndarray) -> None:
        """Build the layer in the child, with a fresh random vector for its commitments."""
        self.deadline = time.monotonic() + LOAD_BUDGET_S
        self.vector = np.random.default_rng(secrets.randbits(128)).standard_normal(
            output_shape(problem)
        )
        try:
            channel.write_message(
                self._to_child, {"op": "build", "problem": list(vars(problem).values())}
            )
            for array in (weights, bias, self.vector):
                send_array(self._to_child, array, self.deadline)
        except channel.ChannelError as error:
            raise self._failed(error, "Conv2D(...)", LOAD_BUDGET_S) from None
        self.receive("Conv2D(...)")

    def run(self, images: np.ndarray) -> tuple[list[float], float]:
        """Forward on each of `images` (stacked); (the commitments, seconds of the round trip).

        The clock covers sending the images, every forward call and the reply.
        """
        self.deadline = time.monotonic() + CALL_BUDGET_S
        start = time.perf_counter()
        try:
            channel.write_message(self._to_child, {"op": "run"}, self.deadline)
            send_array(self._to_child, images, self.deadline)
        except channel.ChannelError as error:
            raise self._failed(error, "forward", CALL_BUDGET_S) from None
        reply = self.receive("forward", CALL_BUDGET_S)
        seconds = time.perf_counter() - start
        dots = reply.get("dots")
        if not isinstance(dots, list) or len(dots) != len(images):
            raise InvalidSubmission(f"the process running {SCRIPT_NAME} sent garbage")
        return [float(dot) for dot in dots], seconds

    def output(self, index: int, shape: tuple[int, ...]) -> np.ndarray:
        """The output of call `index` of the last run (not timed)."""
        self.deadline = time.monotonic() + LOAD_BUDGET_S
        try:
            channel.write_message(self._to_child, {"op": "output", "index": index})
            self.receive("sending an output")
            return read_array(self._from_child, self.deadline, 8 * math.prod(shape) + 1024)
        except channel.ChannelError as error:
            raise self._failed(error, "sending an output", LOAD_BUDGET_S) from None
        except (ValueError, TypeError, KeyError):
            raise InvalidSubmission(f"the process running {SCRIPT_NAME} sent garbage") from None

    def close(self, kill: bool = False) -> None:
        """Stop the child and wait for it (kill it at once with `kill`, or if it lingers)."""
        try:
            if kill:
                raise OSError("no stop request: kill")
            channel.write_message(self._to_child, {"op": "stop"}, time.monotonic() + 5)
            self.process.wait(timeout=30)
        except (OSError, channel.ChannelError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._to_child)
            os.close(self._from_child)


def verified_run(
    child: ConvChild,
    problem: Problem,
    weights: np.ndarray,
    bias: np.ndarray,
    calls: int,
    rng: np.random.Generator,
    check: bool,
) -> float:
    """Seconds per call of one measurement of `calls` calls on fresh images.

    With `check`, the output of one call drawn at random is fetched afterwards and must match
    its commitment and the reference convolution (InvalidSubmission otherwise).
    """
    images = np.stack([fresh_inputs(problem, rng)[0] for _ in range(calls)])
    dots, seconds = child.run(images)
    if check:
        index = secrets.randbelow(calls)
        output = child.output(index, output_shape(problem))
        expected = reference_forward(
            images[index], weights, bias, problem.stride, problem.padding, problem.use_relu
        )
        check_output(output, expected, problem)
        recomputed = float(output.ravel() @ child.vector.ravel())
        scale = float(np.abs(output).ravel() @ np.abs(child.vector).ravel()) + 1e-300
        if abs(recomputed - dots[index]) > COMMIT_RTOL * scale:
            raise InvalidSubmission(
                f"forward call {index + 1} of {calls} answered {dots[index]!r} during timing "
                f"but its output gives {recomputed!r}: what was timed is not what was checked"
            )
    return seconds / calls


def check_extra_problems(child: ConvChild, rng: np.random.Generator) -> None:
    """The forward pass must stay correct for other strides, paddings and activations."""
    for problem in EXTRA_PROBLEMS:
        _, weights, bias = fresh_inputs(problem, rng)
        child.build(problem, weights, bias)
        verified_run(child, problem, weights, bias, 1, rng, check=True)


def start_pair(
    scripts: dict[str, Path], hide: list[Path], scratch: Path, starter_first: bool
) -> dict[str, ConvChild]:
    """A fresh child per script, both started before either is waited for."""
    order = ("starter", "candidate") if starter_first else ("candidate", "starter")
    children: dict[str, ConvChild] = {}
    try:
        for name in order:
            children[name] = ConvChild(scripts[name], hide, scratch)
        for name in ("candidate", "starter"):
            children[name].receive(f"importing {SCRIPT_NAME}")
    except BaseException:
        for child in children.values():
            child.close(kill=True)
        raise
    return children


def time_against_starter(
    script: Path,
    out_dir: Path,
    problem: Problem = BENCHMARK,
    waves: int = WAVES,
    min_measure_s: float = MIN_MEASURE_S,
    adopt_orphans: bool = False,
) -> dict[str, float]:
    """Check `script`'s Conv2D and time it against the starter; returns the metrics.

    `out_dir` (where the grader writes its result) is hidden from the children, unless it
    holds the workspace (a grader run by hand with --out inside it); `adopt_orphans`: this is
    the grader's own process (mlab_pause).
    """
    rng = np.random.default_rng(secrets.randbits(128))
    _, weights, bias = fresh_inputs(problem, rng)
    scripts = {"candidate": script, "starter": STARTER_PATH}
    hide = [] if script.resolve().is_relative_to(out_dir.resolve()) else [out_dir]
    with tempfile.TemporaryDirectory(prefix="vectorization-scratch-") as scratch:
        return _time_waves(scripts, problem, weights, bias, waves, min_measure_s, rng,
                           hide, Path(scratch), Pauser(adopt_orphans))  # fmt: skip


def _time_waves(
    scripts: dict[str, Path],
    problem: Problem,
    weights: np.ndarray,
    bias: np.ndarray,
    waves: int,
    min_measure_s: float,
    rng: np.random.Generator,
    hide: list[Path],
    scratch: Path,
    pauser: Pauser,
) -> dict[str, float]:
    """time_against_starter's waves, with its arguments resolved."""
    timings: list[tuple[list[float], list[float]]] = []
    hidden = True
    budget_end = time.monotonic() + TIMING_BUDGET_S
    for wave in range(waves):
        children = start_pair(scripts, hide, scratch, starter_first=wave % 2 == 1)
        try:
            hidden = hidden and all(child.hidden for child in children.values())
            if wave == 0:
                pauser.run_alone(
                    children["candidate"].process.pid, [children["starter"].process.pid]
                )
                check_extra_problems(children["candidate"], rng)
            seconds: dict[str, list[float]] = {"candidate": [], "starter": []}
            calls = dict.fromkeys(children, 1)
            for pair in range(WARMUP_PAIRS + TIMED_PAIRS_PER_WAVE):
                for name in rotation(wave + pair, ("candidate", "starter")):
                    child = children[name]
                    rival = children["starter" if name == "candidate" else "candidate"]
                    try:
                        pauser.run_alone(child.process.pid, [rival.process.pid])
                    except RuntimeError as error:  # only the agent's code forks like that
                        raise InvalidSubmission(f"{SCRIPT_NAME}'s process: {error}") from None
                    if time.monotonic() > budget_end:
                        raise InvalidSubmission(
                            f"timing took over {TIMING_BUDGET_S:.0f} s (wave {wave + 1} of "
                            f"{waves}): forward is too slow to be timed against the starter"
                        )
                    if pair == 0:
                        child.build(problem, weights, bias)
                    per_call = verified_run(
                        child, problem, weights, bias, calls[name], rng, check=name == "candidate"
                    )
                    if pair < WARMUP_PAIRS:
                        calls[name] = max(
                            1, min(MAX_CALLS, math.ceil(min_measure_s / max(per_call, 1e-7)))
                        )
                    else:
                        seconds[name].append(per_call)
            timings.append((seconds["candidate"], seconds["starter"]))
        except BaseException:
            pauser.resume_all()
            for child in children.values():
                child.close(kill=True)
            raise
        pauser.resume_all()
        for child in children.values():
            child.close()
    candidate_s = [s for wave_s, _ in timings for s in wave_s]
    starter_s = [s for _, wave_s in timings for s in wave_s]
    return {
        "run_time_s": float(np.median(candidate_s)),
        "starter_time_s": float(np.median(starter_s)),
        **speedup_over_waves(timings),
        "answers_hidden": float(hidden),
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


def grade(workspace: Path, out_dir: Path, adopt_orphans: bool = False) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document (`out_dir`: see
    time_against_starter)."""
    agent_reported = read_agent_reported(workspace)
    script = workspace / SCRIPT_NAME
    try:
        if not script.is_file():
            raise InvalidSubmission(f"{SCRIPT_NAME} is missing from the workspace")
        metrics = time_against_starter(script, out_dir, adopt_orphans=adopt_orphans)
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
    """Parse the command line, grade, write OUT.json (or, with --serve, be a child)."""
    if sys.argv[1:2] == ["--serve"]:
        read_fd, write_fd, script = sys.argv[2:5]
        serve(int(read_fd), int(write_fd), Path(script))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True, help="unused: no answer key")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    workspace = args.workspace.resolve()
    out = args.out.resolve()
    sys.dont_write_bytecode = True
    result = grade(workspace, out.parent, adopt_orphans=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
