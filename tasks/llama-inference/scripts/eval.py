"""Grader for the llama-inference task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Imports the workspace's inference.py as a module (its main does not run) and uses its two
entry points on the grader's own data in ANS (model/, the model as published, and
prompts.npy, prompts the agent has never seen):

    model = load_model(ANS/model, device)                      # not timed
    new_ids = generate(model, prompt_ids, GENERATION_LENGTH)   # timed, batch by batch

One untimed warm-up batch, then the timed batches, BATCH_SIZE prompts each. Metrics:

    tokens_per_s          generated tokens / seconds spent in generate (the score, higher)
    ms_per_token          the same as milliseconds per generated token
    exact_token_fraction  share of generated tokens equal to the reference's greedy choice
    max_logit_gap         largest (best logit - logit of the generated token) seen
    load_s                seconds load_model took

The output must stay the same. After timing, the agent's model is freed and the reference
model (scripts/reference_inference.py, a pristine copy of the starter, in float32 with TF32
off) scores every prompt followed by the agent's tokens in one pass. Each generated token must
be the reference's greedy choice up to LOGIT_TOLERANCE (its logit at most that far below the
best one at that position, given the same preceding tokens), and at least MIN_EXACT_FRACTION
of all generated tokens must be exactly the reference's choice.

Invalid, with a one-line reason: inference.py missing or failing to import, load_model or
generate missing or raising, output of the wrong shape, not integer ids, ids outside the
vocabulary, tokens that are not the greedy continuation, generation slower than the budget.
agent_reported is always null: the grader sees only the workspace's .py files.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import torch

SCRIPT_NAME = "inference.py"
REFERENCE = Path(__file__).resolve().with_name("reference_inference.py")
LOGIT_TOLERANCE = 0.25
MIN_EXACT_FRACTION = 0.95
GENERATION_BUDGET_S = 1800.0  # timed generation beyond this is invalid (the starter: ~1-2 min)
WARMUP_BATCHES = 1

T = TypeVar("T")


class InvalidSubmission(Exception):
    """The workspace cannot be scored; the message is the one-line reason."""


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so that a reason fits on one line, and cut it to `limit` chars."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def call_agent(what: str, function: Callable[..., T], *args: Any) -> T:
    """Call agent code; any exception it raises makes the submission invalid."""
    try:
        return function(*args)
    except (Exception, SystemExit) as error:  # agent code may raise anything
        raise InvalidSubmission(
            one_line(f"{what} raised {type(error).__name__}: {error}")
        ) from None


def import_file(path: Path, name: str) -> ModuleType:
    """Import the Python file `path` as module `name` (its __main__ block does not run)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidSubmission(f"{path.name} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that wall times cover it."""
    if device == "cuda":
        torch.cuda.synchronize()


def as_token_array(output: object, shape: tuple[int, int], vocab_size: int) -> np.ndarray:
    """The agent's output as an int64 array of `shape`; InvalidSubmission if it is not one."""
    if isinstance(output, torch.Tensor):
        output = output.detach().cpu().numpy()
    try:
        array = np.asarray(output)
    except (TypeError, ValueError) as error:
        raise InvalidSubmission(
            one_line(f"generate returned {type(output).__name__}, not token ids ({error})")
        ) from None
    if array.shape != shape:
        raise InvalidSubmission(
            f"generate returned shape {array.shape} for a batch of {shape[0]} prompts; "
            f"expected {shape} ({shape[1]} new tokens per prompt)"
        )
    if array.dtype.kind not in "iu":
        raise InvalidSubmission(f"generate returned {array.dtype} values, not integer token ids")
    if array.min() < 0 or array.max() >= vocab_size:
        raise InvalidSubmission(
            f"generate returned token id {int(array.min() if array.min() < 0 else array.max())}"
            f", outside the vocabulary 0..{vocab_size - 1}"
        )
    return array.astype(np.int64)


def run_agent(
    module: ModuleType, model_dir: Path, prompts: np.ndarray, settings: ModuleType, device: str
) -> tuple[list[np.ndarray], float, float]:
    """Load the agent's model, generate for every batch; (outputs, timed seconds, load s)."""
    vocab_size = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    batch_size, new_tokens = settings.BATCH_SIZE, settings.GENERATION_LENGTH
    start = time.perf_counter()
    model = call_agent("load_model", module.load_model, str(model_dir), device)
    synchronize(device)
    load_s = time.perf_counter() - start

    outputs: list[np.ndarray] = []
    timed_s = 0.0
    for index in range(len(prompts) // batch_size):
        batch = torch.from_numpy(prompts[index * batch_size : (index + 1) * batch_size].copy())
        synchronize(device)
        start = time.perf_counter()
        with torch.no_grad():
            raw = call_agent("generate", module.generate, model, batch, new_tokens)
        tokens = as_token_array(raw, (len(batch), new_tokens), vocab_size)
        synchronize(device)
        if index >= WARMUP_BATCHES:
            timed_s += time.perf_counter() - start
        outputs.append(tokens)
        if timed_s > GENERATION_BUDGET_S:
            raise InvalidSubmission(
                f"generation took over {GENERATION_BUDGET_S:.0f} s after {index} timed "
                "batches: far slower than the starter"
            )
    del model
    return outputs, timed_s, load_s


def release_memory(device: str) -> None:
    """Drop what the agent's model left behind before the reference model loads."""
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


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
    try:
        model = reference.load_model(model_dir, device)
    except torch.cuda.OutOfMemoryError:  # the agent's code may hold GPU memory: use the CPU
        release_memory(device)
        device = "cpu"
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


def grade(workspace: Path, answers: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    model_dir, prompts_path = answers / "model", answers / "prompts.npy"
    if not (model_dir / "config.json").is_file() or not prompts_path.is_file():
        sys.exit(f"eval.py: {answers} lacks model/ or prompts.npy; run prepare first")
    prompts = np.load(prompts_path)
    reference = import_file(REFERENCE, "reference_inference")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        module = load_agent_module(workspace)
        outputs, timed_s, load_s = run_agent(module, model_dir, prompts, reference, device)
        release_memory(device)
        fraction, worst = reference_check(reference, model_dir, prompts, outputs, device)
    except InvalidSubmission as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    n_tokens = sum(tokens.size for tokens in outputs[WARMUP_BATCHES:])
    metrics = {
        "tokens_per_s": n_tokens / timed_s,
        "ms_per_token": 1000.0 * timed_s / n_tokens,
        "exact_token_fraction": fraction,
        "max_logit_gap": worst,
        "load_s": load_s,
    }
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


def main() -> None:
    """Parse the command line, grade, write OUT.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    workspace, answers, out = args.workspace.resolve(), args.answers.resolve(), args.out.resolve()

    sys.dont_write_bytecode = True  # the workspace is read-only: leave no __pycache__ there
    sys.path.insert(0, str(workspace))  # inference.py may import its neighbours
    os.chdir(workspace)
    result = grade(workspace, answers)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
