"""Grader for the babylm task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Runs WS/output/model.py in a child process (cwd WS, output/ first on its import path) started
through mlab_untrusted: the child sees neither ANS nor the folder of OUT.json, and may write
only a scratch folder beside OUT.json. It calls `load(output_dir)` with the absolute path of
WS/output, then answers this process's requests over a pipe: encode a line, decode ids, give
the log_probs matrix of ids. This process reads the hidden test set, ANS/babylm_test/*.test
(the non-blank lines of the files in name order, split at "\\n", kept byte for byte, of which
at most MAX_LINES are drawn with numpy default_rng(SAMPLE_SEED) when there are more), sends
the lines one by one, and does every check and all the scoring itself.

The model scores each line through its own tokenizer (the format, model_format.txt in the
agent's workspace): ids = encode(line) must decode back to the line exactly, and
log_probs(ids) must be a (len(ids) + 1) x vocab_size matrix of natural-log probabilities whose
every row sums to 1 (within NORMALISATION_TOLERANCE in log space). The line's log-probability
is the sum of the entries of its tokens and, in the last row, of eos_id. On CAUSALITY_LINES
lines drawn with default_rng(CAUSALITY_SEED), the rows up to a random cut k must not change
when the tokens from k on are replaced: row t may depend on ids[:t] only. Reported:

    perplexity           exp(-(total log-probability) / (whitespace-separated words)), the score
    perplexity_<domain>  the same over the sampled lines of one test file, for people
    bits_per_byte        -(total log-probability) / ln 2 / (UTF-8 bytes + one line end a line)
    log_prob, lines, words, bytes   the totals behind them
    answers_hidden       1 if the child really could not see ANS and OUT's folder, else 0

Invalid, with a one-line reason: no output/model.py, an import, load or call that raises, a
missing attribute, ids out of range, a decode that does not give the line back, a matrix of the
wrong shape, NaN, a row that does not sum to 1, a token given probability 0, a row that looks at
later tokens, a child that dies or runs past BUDGET_S. A missing answer key is the grader's own
fault: it exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

try:
    import mlab_channel as channel
    from mlab_untrusted import untrusted_command
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib import mlab_channel as channel
    from mlab_hpc.grader_lib.mlab_untrusted import untrusted_command

MODEL_FILE = Path("output") / "model.py"
TEST_FOLDER = "babylm_test"
MAX_LINES = 2000
SAMPLE_SEED = 0
NORMALISATION_TOLERANCE = 1e-3  # |log of the sum of a row's probabilities|
BUDGET_S = 3300.0  # loading and scoring together (the harness stops the grader at 3600 s)
CAUSALITY_LINES = 20
CAUSALITY_SEED = 1
CAUSALITY_TOLERANCE = 0.01  # nats, on the entries of probability CAUSALITY_FLOOR or more
CAUSALITY_FLOOR = 1e-5


class InvalidModel(Exception):
    """The model cannot be scored; the message is the one-line reason."""


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """ "ValueError: message" (or the text) on one line, at most `limit` characters."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the pipe: mlab_channel's messages; each reply is followed by a payload frame -------------


def send(fd: int, header: dict[str, Any], payload: bytes | memoryview = b"") -> None:
    """A reply of the child: ``header`` as a message, then ``payload`` (maybe empty) as a
    frame. The grader's requests are messages alone."""
    channel.write_message(fd, header)
    channel.write_frame(fd, payload)


# --- the child: the agent's code -----------------------------------------------------------------


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
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["model"] = module
    call(f"importing {MODEL_FILE}", spec.loader.exec_module, module)
    return module


def int_or_repr(value: Any) -> dict[str, Any]:
    """An attribute for the parent to check: the int itself if it is one, and its repr."""
    plain = isinstance(value, int) and not isinstance(value, bool)
    return {"value": int(value) if plain else None, "repr": repr(value)}


def encoded_ids(encoded: Any) -> list[Any]:
    """What encode returned, as a JSON-able list (the parent checks it)."""
    try:
        array = np.asarray(encoded.tolist() if hasattr(encoded, "tolist") else list(encoded))
    except (TypeError, ValueError, OverflowError):
        kind = type(encoded).__name__
        raise InvalidModel(f"encode must return a list of ints, got {kind}") from None
    values = array.tolist()
    return values if isinstance(values, list) else [values]


def matrix_message(output: Any) -> tuple[dict[str, Any], bytes]:
    """A log_probs output as (shape, dtype) and, if it is a float matrix, its raw values."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(output, torch.Tensor):
        shape, dtype = tuple(output.shape), str(output.dtype).removeprefix("torch.")
        if "float" in dtype and len(shape) == 2:
            wide = output.dtype == torch.float64
            output = output.detach().to(torch.float64 if wide else torch.float32).cpu().numpy()
    else:
        shape = tuple(getattr(output, "shape", ()))
        dtype = str(getattr(output, "dtype", type(output).__name__))
        if not hasattr(output, "shape") and isinstance(output, list | tuple):
            try:
                output = np.asarray(output, dtype=np.float64)
                shape, dtype = output.shape, "float64"
            except (TypeError, ValueError):
                pass
    header = {"shape": [int(size) for size in shape], "dtype": dtype, "data": None}
    if "float" not in dtype or len(shape) != 2:
        return header, b""
    array = np.asarray(output)
    array = np.ascontiguousarray(array, np.float64 if array.dtype.itemsize >= 8 else np.float32)
    header["data"] = array.dtype.name
    return header, array.tobytes()


def serve(read_fd: int, write_fd: int, workspace: Path) -> None:
    """The child: load the agent's model, then answer requests until "stop"."""
    sys.dont_write_bytecode = True  # leave no __pycache__ in the workspace
    os.chdir(workspace)
    try:
        module = import_model(workspace)
        if not callable(getattr(module, "load", None)):
            raise InvalidModel(f"{MODEL_FILE} has no function load(output_dir)")
        model = call("load(output_dir)", module.load, str(workspace / MODEL_FILE.parent))
        send(
            write_fd,
            {
                "status": "ready",
                "methods": {n: callable(getattr(model, n, None)) for n in ("encode", "decode",
                                                                           "log_probs")},
                "vocab_size": int_or_repr(getattr(model, "vocab_size", None)),
                "eos_id": int_or_repr(getattr(model, "eos_id", None)),
            },
        )  # fmt: skip
        while True:
            request = channel.read_message(read_fd, max_bytes=None)  # from the grader: no cap
            op, what = request.get("op"), request.get("what", "")
            if op == "encode":
                encoded = call(what, model.encode, request["line"])
                send(write_fd, {"status": "ok", "ids": encoded_ids(encoded)})
            elif op == "decode":
                decoded = call(what, model.decode, request["ids"])
                send(write_fd, {"status": "ok", "text": decoded if type(decoded) is str else None})
            elif op == "log_probs":
                output = call(what, model.log_probs, request["ids"])
                header, payload = call(f"reading the output of {what}", matrix_message, output)
                send(write_fd, {"status": "ok", **header}, payload)
            else:
                return
    except InvalidModel as invalid:
        send(write_fd, {"status": "invalid", "reason": str(invalid)})


# --- the parent: the test set, the checks, the score -------------------------------------------


class ModelProcess:
    """The agent's model in a child process that sees neither answers nor results."""

    def __init__(self, workspace: Path, hide: list[Path], scratch: Path) -> None:
        to_child, self._to_child = os.pipe()
        self._from_child, from_child = os.pipe()
        child = untrusted_command(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(to_child),
             str(from_child), str(workspace)],
            hide=hide,
            scratch=scratch,
            cwd=workspace,
        )  # fmt: skip
        self.hidden = child.hidden
        self.deadline = time.monotonic() + BUDGET_S
        self.process = subprocess.Popen(
            child.argv,
            pass_fds=(to_child, from_child),
            cwd=workspace,
            env={**child.env, "PYTHONDONTWRITEBYTECODE": "1"},
            stdin=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self.vocab_size, self.eos_id = self._interface()

    def _receive(self, what: str, max_payload: int = 0) -> tuple[dict[str, Any], bytearray]:
        """The child's reply to ``what`` and its payload (at most ``max_payload`` bytes)."""
        try:
            reply = channel.read_message(self._from_child, self.deadline)
            payload = channel.read_frame(self._from_child, self.deadline, max_bytes=max_payload)
        except channel.ChannelError as error:
            note = " (loading and scoring together)"
            reason = channel.failure_reason(
                error, what, self.process, budget_s=BUDGET_S, budget_note=note
            )
            raise InvalidModel(reason) from None
        if reply.get("status") == "invalid":
            raise InvalidModel(one_line(str(reply.get("reason"))))
        if reply.get("status") not in ("ok", "ready"):
            raise InvalidModel(f"the process running the model sent garbage during {what}")
        return reply, payload

    def request(
        self, what: str, max_payload: int = 0, **fields: Any
    ) -> tuple[dict[str, Any], bytearray]:
        """Send one request; the child's reply and its payload (at most ``max_payload`` bytes)."""
        try:
            channel.write_message(self._to_child, {"what": what, **fields}, self.deadline)
        except channel.ChannelError:  # the child is gone or stuck: _receive says which
            pass
        return self._receive(what, max_payload)

    def _interface(self) -> tuple[int, int]:
        """(vocab_size, eos_id) once load returned, with the interface checked."""
        reply, _ = self._receive("load(output_dir)")
        methods = reply.get("methods") or {}
        for name in ("encode", "decode", "log_probs"):
            if methods.get(name) is not True:
                raise InvalidModel(f"the loaded model has no method {name}")
        vocab, eos = reply.get("vocab_size") or {}, reply.get("eos_id") or {}
        vocab_size, eos_id = vocab.get("value"), eos.get("value")
        if type(vocab_size) is not int or vocab_size < 1:
            got = one_line(str(vocab.get("repr")))
            raise InvalidModel(f"the model's vocab_size must be a positive int, got {got}")
        if type(eos_id) is not int or not 0 <= eos_id < vocab_size:
            got = one_line(str(eos.get("repr")))
            raise InvalidModel(f"the model's eos_id must be an int in [0, vocab_size), got {got}")
        return vocab_size, eos_id

    def close(self, kill: bool = False) -> None:
        """Ask the child to stop (kill it at once with `kill`, or if it does not stop)."""
        try:
            if kill:
                raise OSError("no stop request: kill")
            channel.write_message(self._to_child, {"op": "stop"}, time.monotonic() + 60)
            self.process.wait(timeout=60)
        except (OSError, channel.ChannelError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._to_child)
            os.close(self._from_child)


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


def token_ids(model: ModelProcess, line: str, number: int) -> list[int]:
    """The model's ids of one test line, checked for type, range and a faithful decode."""
    reply, _ = model.request(f"encode (test line {number})", op="encode", line=line)
    try:
        array = np.asarray(reply.get("ids"))
    except (TypeError, ValueError):
        array = np.asarray([[]])
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise InvalidModel(f"encode must return a flat list of ints (test line {number})")
    ids = [int(value) for value in array]
    bad = [value for value in ids if not 0 <= value < model.vocab_size]
    if bad:
        raise InvalidModel(
            f"encode gave id {bad[0]} outside [0, {model.vocab_size}) (test line {number})"
        )
    reply, _ = model.request(f"decode (test line {number})", op="decode", ids=ids)
    if reply.get("text") != line:
        raise InvalidModel(
            f"decode(encode(line)) does not give test line {number} back: the tokenizer must "
            "keep every character"
        )
    return ids


def log_probs(model: ModelProcess, ids: list[int], what: str) -> np.ndarray:
    """The model's log_probs matrix of `ids`, checked for shape and type."""
    expected = (len(ids) + 1, model.vocab_size)
    most = expected[0] * expected[1] * 8  # float64; float32 sends half
    header, payload = model.request(f"log_probs ({what})", most, op="log_probs", ids=ids)
    shape, dtype = tuple(header.get("shape") or ()), str(header.get("dtype"))
    if shape != expected or "float" not in dtype:
        raise InvalidModel(
            f"log_probs gave a {'x'.join(map(str, shape)) or 'scalar'} {dtype} array for "
            f"{what}, expected {expected[0]}x{expected[1]} floats"
        )
    try:
        data_type = np.dtype({"float32": np.float32, "float64": np.float64}[header["data"]])
        return np.frombuffer(payload, data_type).reshape(expected).astype(np.float64)
    except (KeyError, TypeError, ValueError):
        raise InvalidModel(f"the process running the model sent garbage for {what}") from None


def row_reductions(matrix: np.ndarray, targets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(log of the probability sum of each row, each row's entry of its target).

    NaN propagates into both.
    """
    peak = matrix.max(axis=1)
    shift = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        sums = shift + np.log(np.exp(matrix - shift[:, None]).sum(axis=1))
    return sums, matrix[np.arange(len(targets)), targets]


def line_log_prob(matrix: np.ndarray, ids: list[int], eos_id: int, number: int) -> float:
    """The natural-log probability of one tokenised line and its end, checks included."""
    row_sums, picked = row_reductions(matrix, [*ids, eos_id])
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


def check_causality(
    model: ModelProcess,
    ids: list[int],
    matrix: np.ndarray,
    number: int,
    rng: np.random.Generator,
) -> None:
    """Rows 0..k of log_probs(ids) must not change when the tokens from a random k on do."""
    if not ids or model.vocab_size < 2:
        return
    cut = int(rng.integers(0, len(ids)))
    shift = rng.integers(1, model.vocab_size, size=len(ids) - cut)
    other = [*ids[:cut], *((np.asarray(ids[cut:]) + shift) % model.vocab_size).tolist()]
    changed = log_probs(model, other, f"test line {number} with its tokens from {cut} replaced")
    first, second = matrix[: cut + 1], changed[: cut + 1]
    with np.errstate(over="ignore", invalid="ignore"):
        large = np.maximum(np.exp(first), np.exp(second)) >= CAUSALITY_FLOOR
        gap = np.abs(np.clip(first, -50.0, None) - np.clip(second, -50.0, None))
    bad = (large & ~(gap <= CAUSALITY_TOLERANCE)) | np.isnan(second)
    if bad.any():
        position = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InvalidModel(
            f"the model looks at later tokens (position {position}): row {position} of "
            f"log_probs for test line {number} changed when the tokens from {cut} on were "
            f"replaced; row t may depend on ids[:t] only"
        )


def score(model: ModelProcess, lines: list[tuple[str, str]]) -> dict[str, float]:
    """Perplexity per word, bits per byte and the per-domain perplexities of the lines."""
    rng = np.random.default_rng(CAUSALITY_SEED)
    checked = set(rng.choice(len(lines), min(CAUSALITY_LINES, len(lines)), replace=False).tolist())
    totals: dict[str, list[float]] = {}  # domain -> [log-prob, words, bytes, lines]
    for number, (domain, line) in enumerate(lines, start=1):
        ids = token_ids(model, line, number)
        matrix = log_probs(model, ids, f"test line {number}")
        log_prob = line_log_prob(matrix, ids, model.eos_id, number)
        if log_prob > 0:
            raise InvalidModel(f"test line {number} has a positive log-probability {log_prob}")
        if number - 1 in checked:
            check_causality(model, ids, matrix, number, rng)
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


def grade(workspace: Path, answers: Path, out_dir: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document.

    The model's process sees neither `answers` nor `out_dir` (the folder of OUT.json); its
    scratch folder, out_dir/untrusted-scratch, is removed afterwards.
    """
    for hidden in (answers, out_dir):
        if workspace == hidden or hidden in workspace.parents:
            sys.exit(f"eval.py: the workspace must not be inside {hidden}, hidden from the model")
    lines = test_lines(answers)
    scratch = out_dir / "untrusted-scratch"
    model = None
    try:
        if not (workspace / MODEL_FILE).is_file():
            raise InvalidModel(f"{MODEL_FILE} is missing from the workspace")
        model = ModelProcess(workspace, hide=[answers, out_dir], scratch=scratch)
        metrics = score(model, lines)
    except InvalidModel as invalid:
        if model is not None:
            model.close(kill=True)  # it may be stuck in its own code
        shutil.rmtree(scratch, ignore_errors=True)
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    model.close()
    shutil.rmtree(scratch, ignore_errors=True)
    metrics["answers_hidden"] = float(model.hidden)
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


def main() -> None:
    """Parse the command line, grade, write OUT.json (or, with --serve, be the child)."""
    if sys.argv[1:2] == ["--serve"]:
        read_fd, write_fd, workspace = sys.argv[2:5]
        serve(int(read_fd), int(write_fd), Path(workspace))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    out = args.out.resolve()
    result = grade(args.workspace.resolve(), args.answers.resolve(), out.parent)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
