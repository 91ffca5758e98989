"""Grader for the babylm task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Imports WS/output/model.py, calls its `load(output_dir)` with the absolute path of WS/output
(cwd is WS) and scores a fixed sample of lines of the hidden test set, ANS/babylm_test/*.test:
the non-blank lines of the files in name order (split at "\\n", kept byte for byte), of which
at most MAX_LINES are drawn with numpy default_rng(SAMPLE_SEED) when there are more.

The model scores each line through its own tokenizer (the format, model_format.txt in the
agent's workspace): ids = encode(line) must decode back to the line exactly, and
log_probs(ids) must be a (len(ids) + 1) x vocab_size matrix of natural-log probabilities whose
every row sums to 1 (within NORMALISATION_TOLERANCE in log space). The line's log-probability
is the sum of the entries of its tokens and, in the last row, of eos_id (a torch tensor is
reduced with torch on its own device, anything else with numpy). Reported:

    perplexity           exp(-(total log-probability) / (whitespace-separated words)), the score
    perplexity_<domain>  the same over the sampled lines of one test file, for people
    bits_per_byte        -(total log-probability) / ln 2 / (UTF-8 bytes + one line end a line)
    log_prob, lines, words, bytes   the totals behind them

Invalid, with a one-line reason: no output/model.py, an import, load or call that raises, a
missing attribute, ids out of range, a decode that does not give the line back, a matrix of the
wrong shape, NaN, a row that does not sum to 1, a token given probability 0. A missing answer
key is the grader's own fault: it exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

MODEL_FILE = Path("output") / "model.py"
TEST_FOLDER = "babylm_test"
MAX_LINES = 2000
SAMPLE_SEED = 0
NORMALISATION_TOLERANCE = 1e-3  # |log of the sum of a row's probabilities|


class InvalidModel(Exception):
    """The model cannot be scored; the message is the one-line reason."""


def one_line(error: BaseException, limit: int = 300) -> str:
    """ "ValueError: message" on one line, at most `limit` characters."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def call(what: str, function: Any, *args: Any) -> Any:
    """function(*args); anything it raises (even SystemExit) becomes InvalidModel."""
    try:
        return function(*args)
    except BaseException as error:  # noqa: BLE001 - the agent's code may raise anything
        if isinstance(error, KeyboardInterrupt):
            raise
        raise InvalidModel(f"{what} raised {one_line(error)}") from None


def import_model(workspace: Path) -> ModuleType:
    """The agent's output/model.py as a module (its folder first on sys.path)."""
    path = workspace / MODEL_FILE
    if not path.is_file():
        raise InvalidModel(f"{MODEL_FILE} is missing from the workspace")
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["model"] = module
    call(f"importing {MODEL_FILE}", spec.loader.exec_module, module)
    return module


def load_model(workspace: Path) -> Any:
    """The object returned by the agent's load(), with its interface checked."""
    module = import_model(workspace)
    if not callable(getattr(module, "load", None)):
        raise InvalidModel(f"{MODEL_FILE} has no function load(output_dir)")
    model = call("load(output_dir)", module.load, str(workspace / MODEL_FILE.parent))
    for name in ("encode", "decode", "log_probs"):
        if not callable(getattr(model, name, None)):
            raise InvalidModel(f"the loaded model has no method {name}")
    vocab_size, eos_id = getattr(model, "vocab_size", None), getattr(model, "eos_id", None)
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 1:
        raise InvalidModel(f"the model's vocab_size must be a positive int, got {vocab_size!r}")
    if not isinstance(eos_id, int) or isinstance(eos_id, bool) or not 0 <= eos_id < vocab_size:
        raise InvalidModel(f"the model's eos_id must be an int in [0, vocab_size), got {eos_id!r}")
    return model


def test_lines(answers: Path) -> list[tuple[str, str]]:
    """(domain, line) of the sampled non-blank test lines, in file and line order."""
    paths = sorted((answers / TEST_FOLDER).glob("*.test"))
    if not paths:
        sys.exit(f"eval.py: no {TEST_FOLDER}/*.test in the answer key {answers}; run prepare first")
    lines = [
        (path.stem, line)
        for path in paths
        for line in path.read_text(encoding="utf-8").split("\n")
        if line.strip()
    ]
    if len(lines) > MAX_LINES:
        chosen = np.random.default_rng(SAMPLE_SEED).choice(len(lines), MAX_LINES, replace=False)
        lines = [lines[index] for index in np.sort(chosen)]
    return lines


def token_ids(model: Any, line: str, number: int) -> list[int]:
    """The model's ids of one test line, checked for type, range and a faithful decode."""
    encoded = call(f"encode (test line {number})", model.encode, line)
    try:
        array = np.asarray(encoded.tolist() if hasattr(encoded, "tolist") else list(encoded))
    except (TypeError, ValueError, OverflowError):
        kind = type(encoded).__name__
        raise InvalidModel(f"encode must return a list of ints, got {kind}") from None
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise InvalidModel(f"encode must return a flat list of ints (test line {number})")
    ids = [int(value) for value in array]
    bad = [value for value in ids if not 0 <= value < model.vocab_size]
    if bad:
        raise InvalidModel(
            f"encode gave id {bad[0]} outside [0, {model.vocab_size}) (test line {number})"
        )
    decoded = call(f"decode (test line {number})", model.decode, ids)
    if decoded != line:
        raise InvalidModel(
            f"decode(encode(line)) does not give test line {number} back: the tokenizer must "
            "keep every character"
        )
    return ids


def row_reductions(output: Any, targets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(log of the probability sum of each row, each row's entry of its target), as float64.

    A torch tensor is reduced with torch on its own device (torch is already imported then:
    the model made the tensor), anything else with numpy. NaN propagates into both.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(output, torch.Tensor):
        matrix = output.detach().double()
        index = torch.tensor(targets, device=matrix.device)[:, None]
        return (
            torch.logsumexp(matrix, dim=1).cpu().numpy(),
            matrix.gather(1, index)[:, 0].cpu().numpy(),
        )
    matrix = np.asarray(output, dtype=np.float64)
    peak = matrix.max(axis=1)
    shift = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        sums = shift + np.log(np.exp(matrix - shift[:, None]).sum(axis=1))
    return sums, matrix[np.arange(len(targets)), targets]


def check_matrix(output: Any, expected: tuple[int, int], number: int) -> None:
    """Raise InvalidModel unless `output` is a float matrix of the expected shape."""
    shape = tuple(getattr(output, "shape", ()))
    dtype = str(getattr(output, "dtype", type(output).__name__)).removeprefix("torch.")
    if not hasattr(output, "shape") and isinstance(output, list | tuple):
        try:
            array = np.asarray(output, dtype=np.float64)
            shape, dtype = array.shape, "float64"
        except (TypeError, ValueError):
            pass
    if shape != expected or "float" not in dtype:
        raise InvalidModel(
            f"log_probs gave a {'x'.join(map(str, shape)) or 'scalar'} {dtype} array for test "
            f"line {number}, expected {expected[0]}x{expected[1]} floats"
        )


def line_log_prob(model: Any, ids: list[int], number: int) -> float:
    """The natural-log probability of one tokenised line and its end, checks included."""
    output = call(f"log_probs (test line {number})", model.log_probs, ids)
    check_matrix(output, (len(ids) + 1, model.vocab_size), number)
    row_sums, picked = call("reducing log_probs", row_reductions, output, [*ids, model.eos_id])
    if np.isnan(row_sums).any():
        raise InvalidModel(f"log_probs gave NaN for test line {number}")
    worst = int(np.argmax(np.abs(row_sums)))
    if not abs(row_sums[worst]) <= NORMALISATION_TOLERANCE:
        with np.errstate(over="ignore"):
            total = float(np.exp(row_sums[worst]))
        raise InvalidModel(
            f"the probabilities of row {worst} of log_probs for test line {number} sum to "
            f"{total:.6g}, not 1: every row must be a distribution over "
            "the whole vocabulary"
        )
    if not np.isfinite(picked).all():
        position = int(np.flatnonzero(~np.isfinite(picked))[0])
        raise InvalidModel(
            f"log_probs gives token {position} of test line {number} probability 0 (log -inf)"
        )
    return float(picked.sum())


def score(model: Any, lines: list[tuple[str, str]]) -> dict[str, float]:
    """Perplexity per word, bits per byte and the per-domain perplexities of the lines."""
    totals: dict[str, list[float]] = {}  # domain -> [log-prob, words, bytes, lines]
    for number, (domain, line) in enumerate(lines, start=1):
        log_prob = line_log_prob(model, token_ids(model, line, number), number)
        if log_prob > 0:
            raise InvalidModel(f"test line {number} has a positive log-probability {log_prob}")
        total = totals.setdefault(domain, [0.0, 0, 0, 0])
        total[0] += log_prob
        total[1] += len(line.split())
        total[2] += len(line.encode("utf-8")) + 1
        total[3] += 1
    columns = zip(*totals.values(), strict=True)
    log_prob, words, n_bytes, n_lines = (sum(column) for column in columns)
    metrics = {
        "perplexity": math.exp(-log_prob / words),
        "bits_per_byte": -log_prob / math.log(2) / n_bytes,
        "log_prob": log_prob,
        "lines": n_lines,
        "words": words,
        "bytes": n_bytes,
    }
    for domain, (domain_log_prob, domain_words, _, _) in sorted(totals.items()):
        metrics[f"perplexity_{domain}"] = math.exp(-domain_log_prob / domain_words)
    if not all(math.isfinite(value) for value in metrics.values()):
        raise InvalidModel("the perplexity overflows: the model gives the test set almost no mass")
    return metrics


def grade(workspace: Path, answers: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    lines = test_lines(answers)
    try:
        metrics = score(load_model(workspace), lines)
    except InvalidModel as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


def main() -> None:
    """Parse the command line, grade, write OUT.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = grade(args.workspace.resolve(), args.answers.resolve())
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
