"""Grader for the llama-inference task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Runs the workspace's inference.py in a child process and uses its two entry points on the
grader's own data in ANS (model/, the model as published, and prompts.npy, prompts the agent
has never seen):

    model = load_model(ANS/model, device)                      # not timed
    new_ids = generate(model, prompt_ids, GENERATION_LENGTH)   # timed, batch by batch

The grader sends one batch of BATCH_SIZE prompts at a time and times, from its own process,
the round trip until the new tokens are back. Timing is paired, interleaved and replicated
over processes: the grading is split into WAVES waves; each wave starts a fresh child running
the agent's inference.py and a fresh child running the unchanged starter (a pristine copy,
scripts/reference_inference.py), sends both the same batches, taking turns (the order
alternates from batch to batch and from wave to wave, and so does which child starts first),
the first WARMUP_BATCHES untimed, and then both children exit. While one child is timed, the
other one's whole process tree is stopped (SIGSTOP, mlab_pause): helpers that keep the machine
busy while the starter is timed cannot make the agent's code look faster. Each wave gives one
ratio, the median over its timed batches of starter seconds / agent seconds; the prompts are
sent again in further rounds, each with its own fresh tokens (see below), until every wave has
at least TIMED_BATCHES_PER_WAVE timed batches.

Why waves of fresh processes. The paired ratios of one pair of processes cancel the noise that
comes and goes during a grading; they cannot see a difference that lasts as long as a process:
on a shared 2-core machine two processes running the identical starter differed by 10-50% for
a whole grading (where their memory landed, which core the scheduler kept each on, what else
ran there), every batch on the same side, so an unchanged submission "succeeded" in 2 of 20
gradings with one pair, and still once in 20 with a third "control" process whose drift
widened the interval. With a fresh pair per wave, the process is the unit of replication: for
an unchanged submission the two children of a wave are exchangeable, so each wave's ratio is as
likely above 1 as below, independently of the other waves, and the interval over the waves
(mlab_timing.speedup_over_waves: with 8 waves, from the smallest wave ratio to the largest)
counts that lasting difference once per wave. To succeed, all 8 waves must favour the
submission by more than 10%: for unchanged code, less likely than 2**-8 = 0.4% even if the
noise were unbounded. Loading (not timed) is repeated once per wave.

The agent's code never shares a process with the clock, the grader's state or the reference
model. Before a batch is sent, the token after BOS of each prompt is replaced by a token drawn
from the operating system's randomness at grading time, and the child runs through
mlab_untrusted, which masks prompts.npy and the output folder: the agent's code cannot compute
answers before it sees the batch. Metrics:

    tokens_per_s          generated tokens / seconds spent in generate (the score, higher)
    ms_per_token          the same as milliseconds per generated token
    exact_token_fraction  share of generated tokens equal to the reference's greedy choice
    max_logit_gap         largest (best logit - logit of the generated token) seen
    load_s                seconds until load_model returned (importing included), the
                          longest over the waves
    starter_tokens_per_s  the starter's throughput, measured alongside
    speedup               median over the waves of the wave ratio (median over the wave's
                          timed batches of starter seconds / agent seconds)
    speedup_low           lower end of a distribution-free 95% interval of that median over
                          the waves (order statistics: the smallest wave ratio at 6-8 waves);
                          success is judged on it
    speedup_high          upper end of that interval
    timing_waves          number of waves (pairs of fresh processes)
    timing_pairs          number of timed batches over all waves

A timed task succeeds only when speedup_low >= 1.10: every wave, each with its own pair of
processes, must see the improvement exceed 10%. An unchanged submission has speedup near 1 and
speedup_low below 1.

The output must stay the same. After the last wave's children have exited, the reference model
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
    import mlab_channel as channel
    from mlab_pause import Pauser
    from mlab_timing import rotation, speedup_over_waves
    from mlab_untrusted import untrusted_command
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib import mlab_channel as channel
    from mlab_hpc.grader_lib.mlab_pause import Pauser
    from mlab_hpc.grader_lib.mlab_timing import rotation, speedup_over_waves
    from mlab_hpc.grader_lib.mlab_untrusted import untrusted_command

SCRIPT_NAME = "inference.py"
REFERENCE = Path(__file__).resolve().with_name("reference_inference.py")
LOGIT_TOLERANCE = 0.25
MIN_EXACT_FRACTION = 0.95
LOAD_BUDGET_S = 1200.0  # load_model (importing included) beyond this is invalid
GENERATION_BUDGET_S = 1800.0  # timed generation beyond this is invalid (the starter: ~1-2 min)
# The process is the unit of replication: WAVES pairs of fresh processes (agent, starter).
# With 8 waves the interval of the median wave ratio is [smallest, largest] (99.2%), and an
# unchanged submission passes only if all 8 of its exchangeable waves favour it by over 10%.
WAVES = 8
WARMUP_BATCHES = 1  # per wave: each fresh process gets one untimed batch first
TIMED_BATCHES_PER_WAVE = 3  # at least; real data gives some waves one more
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
        channel.write_message(write_fd, {"status": "ready"})
        while True:
            request = channel.read_message(read_fd, max_bytes=None)  # the grader's: trusted
            if request.get("stop"):
                return
            batch = torch.tensor(request["prompts"], dtype=torch.long)
            with torch.no_grad():
                output = call_agent("generate", module.generate, model, batch, request["n"])
            tokens = to_nested_ints(output)
            synchronize(device)
            channel.write_message(write_fd, {"status": "ok", "tokens": tokens})
    except InvalidSubmission as invalid:
        channel.write_message(write_fd, {"status": "invalid", "reason": str(invalid)})


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
        self.started, self.started_monotonic = time.perf_counter(), time.monotonic()
        self.process = subprocess.Popen(
            child.argv, pass_fds=(to_child, from_child), cwd=workspace, env=child.env
        )
        os.close(to_child)
        os.close(from_child)

    def receive(self, what: str, deadline: float, budget_s: float, note: str) -> dict[str, Any]:
        """The child's next reply, before `deadline` (monotonic); InvalidSubmission if it
        fails, runs out of `budget_s` (named with `note` in the reason) or dies."""
        try:
            reply = channel.read_message(self._from_child, deadline)
        except channel.ChannelError as error:
            reason = channel.failure_reason(
                error, what, self.process, subject=SCRIPT_NAME, budget_s=budget_s,
                budget_note=note,
            )  # fmt: skip
            raise InvalidSubmission(reason) from None
        if reply.get("status") == "invalid":
            raise InvalidSubmission(one_line(str(reply.get("reason"))))
        return reply

    def wait_ready(self) -> float:
        """Seconds from the child's start until its load_model returned."""
        deadline = self.started_monotonic + LOAD_BUDGET_S
        self.receive("load_model", deadline, LOAD_BUDGET_S, " for loading (importing included)")
        return time.perf_counter() - self.started

    def generate(self, batch: np.ndarray, n: int, timeout_s: float) -> tuple[Any, float]:
        """The child's generate output for `batch` and the round trip's wall time."""
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        note = " for timed generation"
        try:
            channel.write_message(self._to_child, {"prompts": batch.tolist(), "n": n}, deadline)
        except channel.ChannelError as error:
            reason = channel.failure_reason(
                error, "generate", self.process, subject=SCRIPT_NAME,
                budget_s=GENERATION_BUDGET_S, budget_note=note,
            )  # fmt: skip
            raise InvalidSubmission(reason) from None
        reply = self.receive("generate", deadline, GENERATION_BUDGET_S, note)
        return reply.get("tokens"), time.perf_counter() - start

    def stop(self) -> None:
        """Ask the child to stop, without waiting for it (`close` waits)."""
        try:
            channel.write_message(self._to_child, {"stop": True}, time.monotonic() + 5)
        except (channel.ChannelError, OSError):  # gone, or not reading: close kills it
            pass

    def close(self, kill: bool = False) -> None:
        """Stop the child and wait for it (kill it at once with `kill`, or if it lingers)."""
        try:
            if kill:
                raise OSError("no stop request: kill")
            self.stop()
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


def start_wave(
    workspace: Path,
    starter_dir: Path,
    model_dir: Path,
    device: str,
    hide: list[Path],
    scratch: Path,
    starter_first: bool,
) -> tuple[dict[str, AgentProcess], float]:
    """A fresh agent process and a fresh starter process, both loaded; the agent's load s.

    Both load at once (loading is not timed); `starter_first` says which is started first
    (alternated from wave to wave, so that neither is favoured by it). A starter that cannot
    load beside the agent's model (a GPU too small for both) makes the submission invalid,
    with that reason.
    """
    folders = {"agent": workspace, "starter": starter_dir}
    order = ("starter", "agent") if starter_first else ("agent", "starter")
    processes: dict[str, AgentProcess] = {}
    try:
        for name in order:
            processes[name] = AgentProcess(folders[name], model_dir, device, hide, scratch)
        load_s = processes["agent"].wait_ready()
        try:
            processes["starter"].wait_ready()
        except InvalidSubmission as error:
            raise InvalidSubmission(
                one_line(f"the starter, timed alongside, could not load beside {SCRIPT_NAME}'s "
                         f"model: {error}")
            ) from None  # fmt: skip
    except BaseException:
        for process in processes.values():
            process.close(kill=True)
        raise
    return processes, load_s


def run_agent(
    workspace: Path,
    model_dir: Path,
    waves: list[np.ndarray],
    settings: ModuleType,
    device: str,
    hide: list[Path],
    scratch: Path,
    adopt_orphans: bool = False,
) -> tuple[list[np.ndarray], list[tuple[list[float], list[float]]], float, bool]:
    """Generate every wave's batches in a fresh agent process and a fresh starter process.

    `waves` holds the prompts of each wave. Within a wave both processes get every batch,
    taking turns (`rotation`; the first place alternates from wave to wave too), and while one
    is timed the other is stopped (`Pauser`; with `adopt_orphans`, for a grader in a process
    of its own, so are helpers that left their parent): it cannot slow its rival down. The first
    WARMUP_BATCHES of each wave are not timed. Returns (the agent's outputs, batch by batch
    in prompt order; per wave, the agent's and the starter's seconds per timed batch; the
    agent's longest load, in seconds; whether `hide` was hidden from it).
    """
    vocab_size = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    batch_size, new_tokens = settings.BATCH_SIZE, settings.GENERATION_LENGTH
    outputs: list[np.ndarray] = []
    timings: list[tuple[list[float], list[float]]] = []
    load_s, hidden, agent_s = 0.0, True, 0.0
    pauser = Pauser(adopt_orphans)
    leaving: list[AgentProcess] = []  # the last wave's processes, exiting
    with tempfile.TemporaryDirectory(prefix="llama-starter-") as starter_dir:
        shutil.copyfile(REFERENCE, Path(starter_dir) / SCRIPT_NAME)
        processes: dict[str, AgentProcess] = {}
        try:
            for wave, prompts in enumerate(waves):
                pauser.resume_all()
                processes, wave_load_s = start_wave(
                    workspace, Path(starter_dir), model_dir, device, hide, scratch, wave % 2 == 1
                )
                for process in leaving:
                    process.close()  # after the new ones loaded: their exit overlapped it
                leaving = []
                load_s = max(load_s, wave_load_s)
                hidden = hidden and processes["agent"].answers_hidden
                seconds: dict[str, list[float]] = {"agent": [], "starter": []}
                for index in range(len(prompts) // batch_size):
                    batch = prompts[index * batch_size : (index + 1) * batch_size]
                    for name in rotation(wave + index, ("agent", "starter")):
                        rivals = [p.process.pid for n, p in processes.items() if n != name]
                        try:
                            pauser.run_alone(processes[name].process.pid, rivals)
                        except RuntimeError as error:  # only the agent's code forks like that
                            raise InvalidSubmission(f"{SCRIPT_NAME}'s process: {error}") from None
                        left = GENERATION_BUDGET_S - agent_s if name == "agent" else float("inf")
                        tokens, elapsed = processes[name].generate(batch, new_tokens, left)
                        if name == "agent":
                            agent_s += elapsed
                            shape = (len(batch), new_tokens)
                            outputs.append(as_token_array(tokens, shape, vocab_size))
                        if index >= WARMUP_BATCHES:
                            seconds[name].append(elapsed)
                timings.append((seconds["agent"], seconds["starter"]))
                pauser.resume_all()
                for process in processes.values():
                    process.stop()
                leaving, processes = list(processes.values()), {}
        except BaseException:
            pauser.resume_all()
            for process in [*processes.values(), *leaving]:
                process.close(kill=True)  # the agent's may be stuck in its own code
            raise
        for process in leaving:
            process.close()
    return outputs, timings, load_s, hidden


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


def grade(
    workspace: Path, answers: Path, out_dir: Path, adopt_orphans: bool = False
) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document.

    The agent's process sees neither the prompts file nor `out_dir` (mlab_untrusted); it
    reads the model, as published, from ANS/model. `adopt_orphans`: this is the grader's own
    process (see `run_agent`).
    """
    model_dir, prompts_path = answers / "model", answers / "prompts.npy"
    if not (model_dir / "config.json").is_file() or not prompts_path.is_file():
        sys.exit(f"eval.py: {answers} lacks model/ or prompts.npy; run prepare first")
    vocab_size = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    reference = import_file(REFERENCE, "reference_inference")
    published = np.load(prompts_path)
    batches = len(published) // reference.BATCH_SIZE
    needed = WAVES * (WARMUP_BATCHES + TIMED_BATCHES_PER_WAVE)
    rounds = max(1, math.ceil(needed / max(batches, 1)))
    published = published[: batches * reference.BATCH_SIZE]
    prompts = np.concatenate([fresh_prompts(published, vocab_size) for _ in range(rounds)])
    waves = [
        prompts[part[0] * reference.BATCH_SIZE : (part[-1] + 1) * reference.BATCH_SIZE]
        for part in np.array_split(np.arange(batches * rounds), WAVES)
    ]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        outputs, timings, load_s, hidden = run_agent(
            workspace,
            model_dir,
            waves,
            reference,
            device,
            hide=[prompts_path, out_dir],
            scratch=out_dir / "untrusted-scratch",
            adopt_orphans=adopt_orphans,
        )
        fraction, worst = reference_check(reference, model_dir, prompts, outputs, device)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    timed_batches = sum(len(agent) for agent, _ in timings)
    n_tokens = timed_batches * reference.BATCH_SIZE * reference.GENERATION_LENGTH
    agent_s = sum(sum(agent) for agent, _ in timings)
    starter_s = sum(sum(starter) for _, starter in timings)
    metrics = {
        "tokens_per_s": n_tokens / agent_s,
        "ms_per_token": 1000.0 * agent_s / n_tokens,
        "exact_token_fraction": fraction,
        "max_logit_gap": worst,
        "load_s": load_s,
        "answers_hidden": float(hidden),
        "starter_tokens_per_s": n_tokens / starter_s,
        **speedup_over_waves(timings),
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
    result = grade(workspace, answers, out.parent, adopt_orphans=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
