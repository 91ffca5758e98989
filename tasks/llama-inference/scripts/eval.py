"""Grader for the llama-inference task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Runs the workspace's inference.py in a child process and uses its two entry points on the
grader's own data in ANS (model/, the model as published, and prompts.npy, prompts the agent
has never seen):

    model = load_model(ANS/model, device)                      # not timed
    new_ids = generate(model, prompt_ids, GENERATION_LENGTH)   # timed, batch by batch

The grader sends one batch of BATCH_SIZE prompts at a time and times, from its own process,
the round trip until the new tokens are back: one untimed warm-up batch, then the timed ones.
Timing is paired and interleaved, with a control: two more children each run the unchanged
starter (a pristine copy, scripts/reference_inference.py), "starter" and "control", and get
every batch too; the order of the three processes cycles through all six permutations from
batch to batch, so none is favoured by its place. When the prompts make fewer than
MIN_TIMED_PAIRS timed batches (the generated data: 3), the grader sends them again in further
rounds, each with its own fresh tokens (see below), until there are enough batches to bound
the median ratio.

Why a control. The paired ratios (starter seconds / agent seconds, batch by batch) cancel the
noise that comes and goes during a grading, and their order-statistic interval covers it. They
cannot see a difference that lasts as long as a process: on a shared 2-core machine, two
processes running the identical starter differed by 10-50% for a whole grading (where their
memory landed, which core the scheduler kept each on, what else ran there), every ratio on the
same side, so an unchanged submission "succeeded" in 2 of 20 gradings. The control measures
that drift in this very job: speedup_low is the smaller of the candidate's lower ends (against
the starter, against the control) divided by max(high, 1 / low) of the starter/control
interval (mlab_timing.controlled_speedup). A candidate process that merely landed well must
beat both starter processes by more than they differ from each other, and by 10% besides;
an unchanged submission is a third draw from the same distribution of processes. Where the
control cannot load (a GPU too small for a third model), timing goes on without it
(timing_control 0, timing_noise 1).

The agent's code never shares a process with the clock, the grader's state or the reference
model. Before a batch is sent, the token after BOS of each prompt is replaced by a token drawn
from the operating system's randomness at grading time, and the child runs through
mlab_untrusted, which masks prompts.npy and the output folder: the agent's code cannot compute
answers before it sees the batch. Metrics:

    tokens_per_s          generated tokens / seconds spent in generate (the score, higher)
    ms_per_token          the same as milliseconds per generated token
    exact_token_fraction  share of generated tokens equal to the reference's greedy choice
    max_logit_gap         largest (best logit - logit of the generated token) seen
    load_s                seconds load_model took
    starter_tokens_per_s  the starter's throughput, measured alongside
    speedup               median over the timed batches of starter seconds / agent seconds
    speedup_raw_low       lower end of a distribution-free 95% interval of that median (an
                          order statistic of the paired ratios; the extremes below 6
                          batches), the smaller of the two against starter and control
    timing_noise          the drift between the two starter processes, a factor >= 1:
                          max(high, 1 / low) of the interval of starter / control seconds
    speedup_low           speedup_raw_low / timing_noise (success is judged on it)
    speedup_high          upper end of the interval against the starter (not widened)
    timing_pairs          number of timed batches
    timing_control        1 when the control starter ran, 0 when it could not load

A timed task succeeds only when speedup_low >= 1.10: the improvement must exceed 10%, the
noise between batches and the drift between processes, both measured in this very job. An
unchanged submission has speedup near 1 and speedup_low below 1.

The output must stay the same. After the child has exited, the reference model
(scripts/reference_inference.py, a pristine copy of the starter, in float32 with TF32 off)
scores every prompt followed by the agent's tokens in one pass. Each generated token must be
the reference's greedy choice up to LOGIT_TOLERANCE (its logit at most that far below the best
one at that position, given the same preceding tokens), and at least MIN_EXACT_FRACTION of all
generated tokens must be exactly the reference's choice.

Invalid, with a one-line reason: inference.py missing or failing to import, load_model or
generate missing or raising, output of the wrong shape, not integer ids, ids outside the
vocabulary, tokens that are not the greedy continuation, the child process dying, loading or
generation slower than the budgets. agent_reported is always null: the grader sees only the
workspace's .py files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import torch

try:
    from mlab_timing import controlled_speedup, rotation
    from mlab_untrusted import untrusted_command
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_timing import controlled_speedup, rotation
    from mlab_hpc.grader_lib.mlab_untrusted import untrusted_command

SCRIPT_NAME = "inference.py"
REFERENCE = Path(__file__).resolve().with_name("reference_inference.py")
LOGIT_TOLERANCE = 0.25
MIN_EXACT_FRACTION = 0.95
LOAD_BUDGET_S = 1200.0  # load_model (importing included) beyond this is invalid
GENERATION_BUDGET_S = 1800.0  # timed generation beyond this is invalid (the starter: ~1-2 min)
WARMUP_BATCHES = 1
# At 9 timed batches the 2nd smallest ratio bounds the median at 95%; 17 (the 5th smallest)
# narrows both intervals, which the control rule divides, so that a 2x gain passed 4 of 5
# gradings under heavy load instead of 2 of 5 (task README).
MIN_TIMED_PAIRS = 17
SUCCESS_SPEEDUP = 1.10  # the rule stated in the docstring (applied by the analysis)
FIRST_SPECIAL_IDS = 3  # ids 0, 1, 2 are unknown, BOS and EOS: never drawn as a replacement

T = TypeVar("T")


class InvalidSubmission(Exception):
    """The workspace cannot be scored; the message is the one-line reason."""


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so that a reason fits on one line, and cut it to `limit` chars."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def import_file(path: Path, name: str) -> ModuleType:
    """Import the Python file `path` as module `name` (its __main__ block does not run)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidSubmission(f"{path.name} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that wall times cover it."""
    if device == "cuda":
        torch.cuda.synchronize()


# --- the child process: the agent's code ----------------------------------------------------------


def write_message(fd: int, message: dict[str, Any]) -> None:
    """Send one JSON message: its length (8 bytes, little-endian), then its bytes."""
    data = json.dumps(message).encode()
    view = memoryview(len(data).to_bytes(8, "little") + data)
    while view:
        view = view[os.write(fd, view) :]


def read_exactly(fd: int, size: int, deadline: float) -> bytes:
    """`size` bytes from `fd`; TimeoutError past `deadline`, EOFError if the writer is gone."""
    chunks, left = [], size
    while left:
        if deadline != float("inf"):
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int, timeout_s: float = float("inf")) -> dict[str, Any]:
    """Receive one message written by write_message (JSON only: nothing executable)."""
    deadline = time.monotonic() + timeout_s
    size = int.from_bytes(read_exactly(fd, 8, deadline), "little")
    message: dict[str, Any] = json.loads(read_exactly(fd, size, deadline))
    return message


def call_agent(what: str, function: Callable[..., T], *args: Any) -> T:
    """Call agent code; any exception it raises makes the submission invalid."""
    try:
        return function(*args)
    except (Exception, SystemExit) as error:  # agent code may raise anything
        raise InvalidSubmission(
            one_line(f"{what} raised {type(error).__name__}: {error}")
        ) from None


def load_agent_module(workspace: Path) -> ModuleType:
    """The workspace's inference.py, with callable load_model and generate."""
    path = workspace / SCRIPT_NAME
    if not path.is_file():
        raise InvalidSubmission(f"{SCRIPT_NAME} is missing from the workspace")
    module = call_agent(f"importing {SCRIPT_NAME}", import_file, path, "agent_inference")
    for name in ("load_model", "generate"):
        if not callable(getattr(module, name, None)):
            raise InvalidSubmission(f"{SCRIPT_NAME} defines no {name} function")
    return module


def to_nested_ints(output: object) -> list:
    """The agent's generate output as nested lists of ints (for the reply)."""
    if isinstance(output, torch.Tensor):
        output = output.detach().cpu().numpy()
    try:
        array = np.asarray(output)
    except (TypeError, ValueError) as error:
        raise InvalidSubmission(
            one_line(f"generate returned {type(output).__name__}, not token ids ({error})")
        ) from None
    if array.dtype.kind not in "iu":
        raise InvalidSubmission(f"generate returned {array.dtype} values, not integer token ids")
    return array.tolist()


def serve(read_fd: int, write_fd: int, workspace: Path, model_dir: Path, device: str) -> None:
    """The child: load the agent's model, then answer generate requests until "stop"."""
    sys.dont_write_bytecode = True  # the workspace is read-only: leave no __pycache__ there
    sys.path.insert(0, str(workspace))  # inference.py may import its neighbours
    os.chdir(workspace)
    try:
        module = load_agent_module(workspace)
        model = call_agent("load_model", module.load_model, str(model_dir), device)
        synchronize(device)
        write_message(write_fd, {"status": "ready"})
        while True:
            request = read_message(read_fd)
            if request.get("stop"):
                return
            batch = torch.tensor(request["prompts"], dtype=torch.long)
            with torch.no_grad():
                output = call_agent("generate", module.generate, model, batch, request["n"])
            tokens = to_nested_ints(output)
            synchronize(device)
            write_message(write_fd, {"status": "ok", "tokens": tokens})
    except InvalidSubmission as invalid:
        write_message(write_fd, {"status": "invalid", "reason": str(invalid)})


# --- the parent: timing and checking --------------------------------------------------------------


class AgentProcess:
    """The agent's inference.py in a child process, spoken to over two pipes."""

    def __init__(
        self, workspace: Path, model_dir: Path, device: str, hide: list[Path], scratch: Path
    ) -> None:
        to_child, self._to_child = os.pipe()
        self._from_child, from_child = os.pipe()
        child = untrusted_command(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(to_child),
             str(from_child), str(workspace), str(model_dir), device],
            hide=hide,
            scratch=scratch,
            cwd=workspace,
        )  # fmt: skip
        self.answers_hidden = child.hidden
        self.process = subprocess.Popen(
            child.argv, pass_fds=(to_child, from_child), cwd=workspace, env=child.env
        )
        os.close(to_child)
        os.close(from_child)

    def receive(self, what: str, timeout_s: float) -> dict[str, Any]:
        """The child's next reply; InvalidSubmission if it fails, times out or dies."""
        try:
            reply = read_message(self._from_child, timeout_s)
        except TimeoutError:
            raise InvalidSubmission(f"{what} took over {timeout_s:.0f} s") from None
        except EOFError:
            code = self.process.wait()
            raise InvalidSubmission(f"the process running {SCRIPT_NAME} ended (exit code {code})"
                                    f" during {what}") from None  # fmt: skip
        except (ValueError, UnicodeDecodeError):
            raise InvalidSubmission(f"the process running {SCRIPT_NAME} sent garbage") from None
        if reply.get("status") == "invalid":
            raise InvalidSubmission(one_line(str(reply.get("reason"))))
        return reply

    def wait_ready(self) -> float:
        """Seconds until load_model returned in the child."""
        start = time.perf_counter()
        self.receive("load_model", LOAD_BUDGET_S)
        return time.perf_counter() - start

    def generate(self, batch: np.ndarray, n: int, timeout_s: float) -> tuple[Any, float]:
        """The child's generate output for `batch` and the round trip's wall time."""
        start = time.perf_counter()
        write_message(self._to_child, {"prompts": batch.tolist(), "n": n})
        reply = self.receive("generate", timeout_s)
        return reply.get("tokens"), time.perf_counter() - start

    def close(self, kill: bool = False) -> None:
        """Ask the child to stop (kill it at once with `kill`, or if it does not stop)."""
        try:
            if kill:
                raise OSError("no stop request: kill")
            write_message(self._to_child, {"stop": True})
            self.process.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._to_child)
            os.close(self._from_child)


def as_token_array(tokens: object, shape: tuple[int, int], vocab_size: int) -> np.ndarray:
    """The reply's tokens as an int64 array of `shape`; InvalidSubmission if they are not."""
    try:
        array = np.asarray(tokens)
    except (TypeError, ValueError):  # ragged rows
        raise InvalidSubmission("generate returned rows of different lengths") from None
    if array.shape != shape:
        raise InvalidSubmission(
            f"generate returned shape {array.shape} for a batch of {shape[0]} prompts; "
            f"expected {shape} ({shape[1]} new tokens per prompt)"
        )
    if array.dtype.kind not in "iu":
        raise InvalidSubmission(f"generate returned {array.dtype} values, not integer token ids")
    if array.min() < 0 or array.max() >= vocab_size:
        bad = int(array.min() if array.min() < 0 else array.max())
        raise InvalidSubmission(
            f"generate returned token id {bad}, outside the vocabulary 0..{vocab_size - 1}"
        )
    return array.astype(np.int64)


def fresh_prompts(prompts: np.ndarray, vocab_size: int) -> np.ndarray:
    """`prompts` with the token after BOS replaced by one drawn at grading time."""
    rng = np.random.default_rng(secrets.randbits(128))
    fresh = prompts.copy()
    fresh[:, 1] = rng.integers(FIRST_SPECIAL_IDS, vocab_size, size=len(prompts))
    return fresh


def start_starter(
    starter_dir: Path, model_dir: Path, device: str, hide: list[Path], scratch: Path
) -> AgentProcess:
    """A process running the pristine starter from `starter_dir`, its model loaded."""
    starter = AgentProcess(starter_dir, model_dir, device, hide, scratch)
    try:
        starter.wait_ready()
    except InvalidSubmission:
        starter.close(kill=True)
        raise
    return starter


def run_agent(
    workspace: Path,
    model_dir: Path,
    prompts: np.ndarray,
    settings: ModuleType,
    device: str,
    hide: list[Path],
    scratch: Path,
) -> tuple[list[np.ndarray], dict[str, list[float]], float, bool]:
    """Generate every batch in the agent's process and in two starter processes, in rotation.

    The processes: "agent" (the workspace's inference.py), "starter" and "control" (two
    independent processes running the pristine starter). Each batch goes to every process,
    in an order that cycles through all permutations (`rotation`). When the control cannot
    load (say, the GPU cannot hold a third model), timing goes on without it. Returns (the
    agent's outputs, seconds per timed batch for each process name, the agent's load
    seconds, whether `hide` was hidden from it).
    """
    vocab_size = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    batch_size, new_tokens = settings.BATCH_SIZE, settings.GENERATION_LENGTH
    with tempfile.TemporaryDirectory(prefix="llama-starter-") as starter_dir:
        shutil.copyfile(REFERENCE, Path(starter_dir) / SCRIPT_NAME)
        agent = AgentProcess(workspace, model_dir, device, hide, scratch)
        processes: dict[str, AgentProcess] = {"agent": agent}
        try:
            load_s = agent.wait_ready()
            processes["starter"] = start_starter(
                Path(starter_dir), model_dir, device, hide, scratch
            )
            try:
                processes["control"] = start_starter(
                    Path(starter_dir), model_dir, device, hide, scratch
                )
            except InvalidSubmission:
                pass  # no control: the drift between processes goes unmeasured
            outputs: list[np.ndarray] = []
            times: dict[str, list[float]] = {name: [] for name in processes}
            for index in range(len(prompts) // batch_size):
                batch = prompts[index * batch_size : (index + 1) * batch_size]
                seconds: dict[str, float] = {}
                for name in rotation(index, tuple(processes)):
                    left = GENERATION_BUDGET_S
                    if name == "agent":
                        left -= sum(times["agent"])
                    tokens, seconds[name] = processes[name].generate(batch, new_tokens, left)
                    if name == "agent":
                        shape = (len(batch), new_tokens)
                        outputs.append(as_token_array(tokens, shape, vocab_size))
                if index >= WARMUP_BATCHES:
                    for name, value in seconds.items():
                        times[name].append(value)
        except InvalidSubmission:
            for process in processes.values():
                process.close(kill=True)  # the agent's may be stuck in its own code
            raise
        for process in processes.values():
            process.close()
    return outputs, times, load_s, agent.answers_hidden


def logit_gaps(logits: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per generated token: best logit minus its logit, and whether it is the argmax.

    `logits` (batch, new tokens, vocab) are the reference's logits at the positions that
    predict `tokens` (batch, new tokens).
    """
    chosen = logits.gather(-1, tokens[..., None])[..., 0]
    gaps = logits.max(dim=-1).values - chosen
    return gaps, tokens == logits.argmax(dim=-1)


def reference_check(
    reference: ModuleType,
    model_dir: Path,
    prompts: np.ndarray,
    outputs: list[np.ndarray],
    device: str,
) -> tuple[float, float]:
    """(exact_token_fraction, max_logit_gap) of the outputs; InvalidSubmission if off."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = reference.load_model(model_dir, device)
    batch_size = reference.BATCH_SIZE
    worst, exact, total = 0.0, 0, 0
    for index, tokens in enumerate(outputs):
        batch = torch.from_numpy(prompts[index * batch_size : (index + 1) * batch_size])
        new = torch.from_numpy(tokens)
        sequence = torch.cat([batch, new], dim=1).to(device)
        with torch.no_grad():
            logits = model(sequence[:, :-1])[:, batch.shape[1] - 1 :].float()
        gaps, is_best = logit_gaps(logits, new.to(device))
        bad = (gaps > LOGIT_TOLERANCE).nonzero()
        if len(bad):
            row, step = (int(value) for value in bad[0])
            raise InvalidSubmission(
                f"the output changed: prompt {index * batch_size + row}, new token {step}: "
                f"generated id {int(new[row, step])}, greedy choice "
                f"{int(logits[row, step].argmax())} (logit gap {float(gaps[row, step]):.3g}, "
                f"allowed {LOGIT_TOLERANCE:g})"
            )
        worst = max(worst, float(gaps.max()))
        exact += int(is_best.sum())
        total += is_best.numel()
    fraction = exact / total
    if fraction < MIN_EXACT_FRACTION:
        raise InvalidSubmission(
            f"the output changed: only {exact} of {total} generated tokens are the exact "
            f"greedy choice (at least {MIN_EXACT_FRACTION:.0%} must be)"
        )
    return fraction, worst


def grade(workspace: Path, answers: Path, out_dir: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document.

    The agent's process sees neither the prompts file nor `out_dir` (mlab_untrusted); it
    reads the model, as published, from ANS/model.
    """
    model_dir, prompts_path = answers / "model", answers / "prompts.npy"
    if not (model_dir / "config.json").is_file() or not prompts_path.is_file():
        sys.exit(f"eval.py: {answers} lacks model/ or prompts.npy; run prepare first")
    vocab_size = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    reference = import_file(REFERENCE, "reference_inference")
    published = np.load(prompts_path)
    batches = len(published) // reference.BATCH_SIZE
    rounds = max(1, math.ceil((MIN_TIMED_PAIRS + WARMUP_BATCHES) / max(batches, 1)))
    published = published[: batches * reference.BATCH_SIZE]
    prompts = np.concatenate([fresh_prompts(published, vocab_size) for _ in range(rounds)])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        outputs, times, load_s, hidden = run_agent(
            workspace,
            model_dir,
            prompts,
            reference,
            device,
            hide=[prompts_path, out_dir],
            scratch=out_dir / "untrusted-scratch",
        )
        fraction, worst = reference_check(reference, model_dir, prompts, outputs, device)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    n_tokens = sum(tokens.size for tokens in outputs[WARMUP_BATCHES:])
    timed_s = sum(times["agent"])
    metrics = {
        "tokens_per_s": n_tokens / timed_s,
        "ms_per_token": 1000.0 * timed_s / n_tokens,
        "exact_token_fraction": fraction,
        "max_logit_gap": worst,
        "load_s": load_s,
        "answers_hidden": float(hidden),
        "starter_tokens_per_s": n_tokens / sum(times["starter"]),
        "timing_control": float("control" in times),
        **controlled_speedup(times["agent"], times["starter"], times.get("control")),
    }
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


def main() -> None:
    """Parse the command line, grade, write OUT.json (or, with --serve, be the child)."""
    if sys.argv[1:2] == ["--serve"]:
        read_fd, write_fd, workspace, model_dir, device = sys.argv[2:7]
        serve(int(read_fd), int(write_fd), Path(workspace), Path(model_dir), device)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    workspace, answers, out = args.workspace.resolve(), args.answers.resolve(), args.out.resolve()
    sys.dont_write_bytecode = True
    result = grade(workspace, answers, out.parent)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
