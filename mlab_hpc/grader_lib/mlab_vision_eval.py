"""Grade a delivered image predictor (the `model` deliverable of the vision tasks).

The agent leaves in its workspace's ``output/`` a file ``predict.py`` and whatever weights it
needs. ``predict.py`` defines two functions:

    def load(model_dir: str) -> Any
        # called once; model_dir is the absolute path of output/ (read-only); returns any state
    def predict(state: Any, images: numpy.ndarray) -> Sequence[int]
        # images: uint8, (N, H, W, 3) RGB or (N, H, W) grey, as the task's training files hold
        # them; returns one integer label per image, in order

``grade_predictor`` runs that code in a child process started through ``mlab_untrusted``: the
child sees neither the answer folder (which holds the test images and their labels) nor the
grader's output folder, has no network, and may write only a scratch folder. This process reads
the test images and sends them to the child in batches over a pipe; the labels are read from
disk only after the child has been stopped, and the accuracy is computed here.

Caps, from the task form's ``[params]`` in task.toml (``$MLAB_TASK_PARAMS``, read by
``vision_rules``): ``max_bytes`` (the files of output/, checked before anything runs),
``max_parameters`` (counted by the child on the ``torch.nn.Module`` objects the state holds;
absent: not capped; weights kept outside modules escape that count, the byte cap does not),
``max_gpu_memory_gb`` (the child's ``torch.cuda.max_memory_allocated`` after the last batch:
measured on a GPU node only, where the predictor's own code could also reset the counter, so
it is a rule check, not a security boundary), ``budget_s`` (loading and all batches),
``batch_size``.

Timing: ``inference_s`` is the wall time this process measures from sending each batch to
receiving its labels, summed over the test set (the pipe's transfer included; loading
excluded, reported as ``load_s``). The primary metric is computed from the accuracy and that
time by one of the ``SCORES`` below (``VisionRules.score``).

Metrics written: ``accuracy``, ``correct``, ``images``, ``inference_s``, ``images_per_s``,
``batch_latency_s`` (median per batch), ``load_s``, ``parameters``, ``model_bytes``,
``on_gpu`` (1 when the child used a GPU), ``gpu_memory_gb`` (on a GPU only),
``answers_hidden``, ``eval_s`` and the primary metric under its task's name.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import mlab_channel as channel
    from mlab_model_eval import one_line, task_params
    from mlab_untrusted import untrusted_command
except ModuleNotFoundError:  # imported as mlab_hpc.grader_lib.mlab_vision_eval
    from mlab_hpc.grader_lib import mlab_channel as channel
    from mlab_hpc.grader_lib.mlab_model_eval import one_line, task_params
    from mlab_hpc.grader_lib.mlab_untrusted import untrusted_command

MODEL_DIR = Path("output")
PREDICTOR = "predict.py"
GIB = 1024**3


class InvalidPredictor(Exception):
    """The predictor cannot be scored; the message is the one-line reason."""


# --- the scores ---------------------------------------------------------------------------------


def accuracy_squared_per_minute(accuracy: float, seconds: float, floor_s: float) -> float:
    """accuracy^2 / inference minutes (budget-model-training's published score).

    The time is floored at ``floor_s`` so that timer noise on a tiny test set cannot make the
    score unbounded."""
    return accuracy**2 / (max(seconds, floor_s) / 60.0)


def time_capped_accuracy(accuracy: float, seconds: float, cap_s: float) -> float:
    """The accuracy while the inference time stays within ``cap_s``; beyond it, the accuracy
    scaled down by cap_s / seconds (twice the allowed time halves the score)."""
    return accuracy * min(1.0, cap_s / seconds) if seconds > 0 else accuracy


SCORES = ("accuracy_squared_per_minute", "time_capped_accuracy")


@dataclass(frozen=True)
class VisionRules:
    """What a task's grader asks of the predictor and how it scores it."""

    primary: str  # the [metric] name in task.toml
    score: str  # one of SCORES
    max_bytes: int
    max_parameters: int | None = None
    max_gpu_memory_gb: float | None = None
    batch_size: int = 64
    budget_s: float = 3300.0
    time_floor_s: float = 0.1  # accuracy_squared_per_minute's floor
    time_cap_s_per_image: float | None = None  # time_capped_accuracy's cap, per test image
    images: str = "test_images.npy"  # in the answer folder
    labels: str = "test_labels.npy"

    def primary_value(self, accuracy: float, seconds: float, images: int) -> float:
        """The primary metric from the accuracy and the inference time of ``images`` images."""
        if self.score == "accuracy_squared_per_minute":
            return accuracy_squared_per_minute(accuracy, seconds, self.time_floor_s)
        if self.score == "time_capped_accuracy":
            if self.time_cap_s_per_image is None:
                raise ValueError("time_capped_accuracy needs time_cap_s_per_image")
            return time_capped_accuracy(accuracy, seconds, self.time_cap_s_per_image * images)
        raise ValueError(f"unknown score {self.score!r}; use one of {', '.join(SCORES)}")


PARAM_KEYS = ("max_bytes", "max_parameters", "max_gpu_memory_gb", "batch_size", "budget_s",
              "time_floor_s", "time_cap_s_per_image")  # fmt: skip


def vision_rules(primary: str, score: str, params: dict[str, Any] | None = None) -> VisionRules:
    """The rules of a task form: its ``[params]`` (``params``, else ``$MLAB_TASK_PARAMS``; see
    PARAM_KEYS, ``max_bytes`` required), the [metric] name ``primary`` and one of ``SCORES``."""
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; use one of {', '.join(SCORES)}")
    if params is None:
        params = task_params(("max_bytes",))
    fields = {key: params[key] for key in PARAM_KEYS if key in params}
    if score == "time_capped_accuracy" and "time_cap_s_per_image" not in fields:
        sys.exit("the task's [params] lack time_cap_s_per_image, which its score needs")
    return VisionRules(primary=primary, score=score, **fields)


# --- arrays over the pipe -----------------------------------------------------------------------


def send_array(fd: int, array: Any, deadline: float = math.inf, **fields: Any) -> None:
    """A message (``fields`` with the array's shape and dtype), then the array's raw bytes as
    a frame of its own; both before ``deadline`` (mlab_channel's errors)."""
    channel.write_message(
        fd, {**fields, "shape": list(array.shape), "dtype": str(array.dtype)}, deadline
    )
    channel.write_frame(fd, memoryview(array.tobytes()), deadline)


def receive_array(fd: int, message: dict[str, Any]) -> Any:
    """The array whose header ``message`` is (read after it by send_array's framing); a frame
    of any other size than the header's shape and dtype make is refused unread."""
    import numpy as np

    dtype = np.dtype(str(message["dtype"]))
    shape = tuple(int(n) for n in message["shape"])
    expected = math.prod(shape) * dtype.itemsize
    data = channel.read_frame(fd, max_bytes=expected)  # writable, unlike bytes
    if len(data) != expected:
        raise ValueError("array size does not match its header")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


# --- the child: the agent's predictor -----------------------------------------------------------


def count_parameters(state: Any) -> int | None:
    """Parameters of the torch modules in ``state`` (itself, its attributes, the items of its
    dicts, lists and tuples, two levels deep), each counted once; None when it holds none."""
    try:
        import torch
    except ImportError:
        return None
    seen: dict[int, int] = {}
    found = False

    def visit(value: Any, depth: int) -> None:
        nonlocal found
        if isinstance(value, torch.nn.Module):
            found = True
            for parameter in value.parameters():
                seen[id(parameter)] = parameter.numel()
            return
        if depth == 0:
            return
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list | tuple):
            children = list(value)
        else:
            children = list(getattr(value, "__dict__", {}).values())
        for child in children:
            visit(child, depth - 1)

    visit(state, 2)
    return sum(seen.values()) if found else None


def _gpu_figures() -> tuple[bool, float | None]:
    """(whether the child's torch used a GPU, its peak allocated GiB)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return False, None
    return True, torch.cuda.max_memory_allocated() / GIB


def serve(read_fd: int, write_fd: int, model_dir: Path) -> None:
    """The child: import output/predict.py, call load, answer predict requests until "stop"."""
    sys.dont_write_bytecode = True
    import numpy as np

    try:
        sys.path.insert(0, str(model_dir))
        spec = importlib.util.spec_from_file_location("predict", model_dir / PREDICTOR)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {PREDICTOR}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["predict"] = module
        spec.loader.exec_module(module)
        for name in ("load", "predict"):
            if not callable(getattr(module, name, None)):
                raise AttributeError(f"{PREDICTOR} defines no function {name}")
        state = module.load(str(model_dir))
        parameters = count_parameters(state)
    except BaseException as error:  # noqa: BLE001 - the agent's code may raise anything
        reason = f"loading raised {one_line(error)}"
        channel.write_message(write_fd, {"status": "invalid", "reason": reason})
        return
    channel.write_message(write_fd, {"status": "ready", "parameters": parameters})
    while True:
        request = channel.read_message(read_fd, max_bytes=None)  # from the grader: no cap
        if request.get("op") != "predict":
            on_gpu, memory = _gpu_figures()
            channel.write_message(
                write_fd, {"status": "ok", "on_gpu": on_gpu, "gpu_memory_gb": memory}
            )
            return
        images = receive_array(read_fd, request)
        try:
            result = module.predict(state, images)
            if hasattr(result, "detach"):  # a torch tensor, maybe on the GPU
                result = result.detach().cpu().numpy()
            labels = np.asarray(result).reshape(-1)
            if len(labels) != len(images):
                raise ValueError(f"{len(labels)} labels for {len(images)} images")
            numbers = labels.astype(float)
            if not (np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers))):
                raise ValueError("labels must be whole numbers")
            channel.write_message(write_fd, {"status": "ok", "labels": [int(v) for v in labels]})
        except BaseException as error:  # noqa: BLE001
            reason = f"predict raised {one_line(error)}"
            channel.write_message(write_fd, {"status": "invalid", "reason": reason})
            return


# --- the parent: caps, batches, the scores ------------------------------------------------------


def check_directory(model_dir: Path, rules: VisionRules) -> int:
    """The bytes of output/, refused when predict.py is missing or the files exceed the cap."""
    if not (model_dir / PREDICTOR).is_file():
        raise InvalidPredictor(
            f"{MODEL_DIR}/{PREDICTOR} is missing: leave in {MODEL_DIR}/ a {PREDICTOR} that "
            "defines load(model_dir) and predict(state, images), and the weights it loads"
        )
    total = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    if total > rules.max_bytes:
        raise InvalidPredictor(
            f"{MODEL_DIR}/ holds {total} bytes, over the task's cap of {rules.max_bytes} bytes"
        )
    return total


class PredictorProcess:
    """The predictor in a child process that sees neither the answer key nor the results."""

    def __init__(self, model_dir: Path, rules: VisionRules, hide: list[Path], scratch: Path):
        self.closed = False
        to_child, self._to_child = os.pipe()
        self._from_child, from_child = os.pipe()
        here = str(Path(__file__).resolve())
        child = untrusted_command(
            [sys.executable, here, "--serve", str(to_child), str(from_child), str(model_dir)],
            hide=hide,
            scratch=scratch,
            cwd=scratch,
        )
        self.hidden = child.hidden
        self.budget_s = rules.budget_s
        self.deadline = time.monotonic() + rules.budget_s
        env = {**child.env, "PYTHONDONTWRITEBYTECODE": "1", "HF_HUB_OFFLINE": "1"}
        self.process = subprocess.Popen(
            child.argv,
            pass_fds=(to_child, from_child),
            cwd=scratch,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self.ready = self.receive("loading the predictor")

    def receive(self, what: str) -> dict[str, Any]:
        """The child's next reply; InvalidPredictor when it is late, dead, garbled or refuses."""
        try:
            reply = channel.read_message(self._from_child, self.deadline)
        except channel.ChannelError as error:
            reason = channel.failure_reason(
                error, what, self.process, subject="the predictor", budget_s=self.budget_s
            )
            raise InvalidPredictor(reason) from None
        if reply.get("status") == "invalid":
            raise InvalidPredictor(one_line(str(reply.get("reason"))))
        return reply

    def predict(self, images: Any) -> tuple[list[int], float]:
        """The labels of one batch, and the seconds from sending it to receiving them."""
        start = time.perf_counter()
        try:
            send_array(self._to_child, images, self.deadline, op="predict")
        except channel.ChannelError:
            pass  # the child is gone or stuck: receive says which
        reply = self.receive("predict")
        seconds = time.perf_counter() - start
        labels = reply.get("labels")
        if not isinstance(labels, list) or len(labels) != len(images):
            raise InvalidPredictor("the predictor returned the wrong number of labels")
        return [int(v) for v in labels], seconds

    def finish(self) -> dict[str, Any]:
        """The child's GPU figures; it then exits."""
        try:
            channel.write_message(self._to_child, {"op": "stats"}, self.deadline)
        except channel.ChannelError:
            pass  # the child is gone or stuck: receive says which
        reply = self.receive("the final figures")
        self.close()
        return reply

    def close(self, kill: bool = False) -> None:
        """Wait for the child to end (kill it at once with ``kill``, or if it lingers); once."""
        if self.closed:
            return
        self.closed = True
        try:
            if kill:
                raise OSError("kill")
            self.process.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._to_child)
            os.close(self._from_child)


def grade_predictor(
    workspace: Path, answers: Path, out_dir: Path, rules: VisionRules
) -> dict[str, Any]:
    """Grade the predictor in ``workspace/output``; the grader's JSON document.

    The predictor's process sees neither
    ``answers`` nor ``out_dir``; its scratch folder, out_dir/predictor-scratch, is removed
    afterwards. The labels are read only once that process has ended.
    """
    import numpy as np

    workspace, answers, out_dir = workspace.resolve(), answers.resolve(), out_dir.resolve()
    for hidden in (answers, out_dir):
        if workspace == hidden or hidden in workspace.parents:
            sys.exit(f"the workspace must not be inside {hidden}, hidden from the predictor")
    for name in (rules.images, rules.labels):
        if not (answers / name).is_file():
            sys.exit(f"no {name} in the answer key {answers}; run prepare first")
    images = np.load(answers / rules.images, mmap_mode="r")
    scratch = out_dir / "predictor-scratch"
    child: PredictorProcess | None = None
    start = time.perf_counter()
    try:
        model_bytes = check_directory(workspace / MODEL_DIR, rules)
        load_start = time.perf_counter()
        child = PredictorProcess(workspace / MODEL_DIR, rules, [answers, out_dir], scratch)
        load_s = time.perf_counter() - load_start
        parameters = child.ready.get("parameters")
        cap = rules.max_parameters
        if cap is not None and parameters is not None and int(parameters) > cap:
            raise InvalidPredictor(
                f"the loaded predictor has {parameters} parameters, over the task's cap of {cap}"
            )
        predicted: list[int] = []
        times: list[float] = []
        for first in range(0, len(images), rules.batch_size):
            batch = np.ascontiguousarray(images[first : first + rules.batch_size])
            labels, seconds = child.predict(batch)
            predicted += labels
            times.append(seconds)
        figures = child.finish()
        memory = figures.get("gpu_memory_gb")
        gpu_cap = rules.max_gpu_memory_gb
        if gpu_cap is not None and memory is not None and float(memory) > gpu_cap:
            raise InvalidPredictor(
                f"the predictor used {float(memory):.2f} GiB of GPU memory, over the task's "
                f"cap of {gpu_cap} GiB"
            )
    except InvalidPredictor as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    finally:
        if child is not None:
            child.close(kill=True)  # no-op after a clean finish
        shutil.rmtree(scratch, ignore_errors=True)
    truth = np.load(answers / rules.labels)  # read only now: the predictor's process is gone
    correct = int(np.sum(np.asarray(predicted) == truth))
    accuracy = correct / len(truth)
    inference_s = sum(times)
    metrics: dict[str, float] = {
        "accuracy": accuracy,
        "correct": float(correct),
        "images": float(len(truth)),
        "inference_s": inference_s,
        "images_per_s": len(truth) / inference_s if inference_s > 0 else 0.0,
        "batch_latency_s": statistics.median(times) if times else 0.0,
        "load_s": load_s,
        "model_bytes": float(model_bytes),
        "on_gpu": float(bool(figures.get("on_gpu"))),
        "answers_hidden": float(child.hidden),
    }
    if parameters is not None:
        metrics["parameters"] = float(parameters)
    if memory is not None:
        metrics["gpu_memory_gb"] = float(memory)
    metrics[rules.primary] = rules.primary_value(accuracy, inference_s, len(truth))
    metrics["eval_s"] = time.perf_counter() - start
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


def main(rules: VisionRules, doc: str | None = None, argv: Sequence[str] | None = None) -> None:
    """The command line of a task's grader: --workspace, --answers, --out."""
    import argparse

    parser = argparse.ArgumentParser(
        description=(doc or "Grade a predictor.").strip().splitlines()[0]
    )
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    result = grade_predictor(args.workspace, args.answers, out.parent, rules)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        read_fd, write_fd, directory = sys.argv[2:5]
        serve(int(read_fd), int(write_fd), Path(directory))
