"""Grade a delivered model (the `model` deliverable of the ML Research Benchmark tasks).

The agent leaves a Hugging Face model directory (config.json, weights, tokenizer files) in its
workspace's output/. ``grade_model`` scores it with the real evaluation library,
lm-eval-harness (``lm_eval``), while the model itself runs in a child process started through
``mlab_untrusted``: the child sees neither the answer key nor the grader's output folder, has
no network, and may write only a scratch folder. The split follows the library's own seam:

- this process (it holds the answer key) builds lm-eval's tasks from local data files of the
  benchmark's real format (``LocalTask``), makes lm-eval's requests and computes its metrics;
- the child loads the model with lm-eval's own Hugging Face wrapper (``HFLM``) and answers the
  requests (log-likelihoods of context/continuation pairs, rolling log-likelihoods of texts,
  generations): the prompts reach it over a pipe, the answers never do.

Before the child starts, the model directory's size is checked against a cap (its bytes, and
its parameters as the safetensors headers declare them); once loaded, the child's parameter
count is checked again. Model code shipped in the directory (``auto_map``, ``*.py``) runs only
when the nested sandbox really hides the answers: without it, such a model is refused.

Metrics written: ``<task>_<metric>`` for every metric of every lm-eval task (``acc``,
``acc_norm``, ``word_perplexity``...), the task's primary metric under its own name, and the
generic figures ``parameters``, ``trainable_parameters``, ``model_bytes``, ``tokens_per_s``
(greedy generation), ``latency_s`` (one generation of ``SPEED_NEW_TOKENS`` tokens, median of
``SPEED_REPEATS``), ``perplexity`` (per word, from the rolling-log-likelihood task when there
is one), ``eval_s``, ``on_gpu`` (1 when the model ran on a GPU: the timings depend on it) and
``answers_hidden`` (1 when the child really could not see the key).

Used by the graders in tasks/<id>/scripts/eval.py; the harness mounts this folder read-only
and puts it on the grader's PYTHONPATH; run by hand, a grader imports it from
mlab_hpc.grader_lib instead.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import mlab_channel as channel
    from mlab_untrusted import untrusted_command
except ModuleNotFoundError:  # imported as mlab_hpc.grader_lib.mlab_model_eval
    from mlab_hpc.grader_lib import mlab_channel as channel
    from mlab_hpc.grader_lib.mlab_untrusted import untrusted_command

MODEL_DIR = Path("output")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")
SPEED_PROMPT = "The history of science shows that careful measurement"
SPEED_NEW_TOKENS = 32
SPEED_REPEATS = 3
DEFAULT_BUDGET_S = 3300.0
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


class InvalidModel(Exception):
    """The model cannot be scored; the message is the one-line reason."""


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """ "ValueError: message" (or the text) on one line, at most `limit` characters."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the evaluation tasks: lm-eval configurations over local data files ------------------------


@dataclass(frozen=True)
class LocalTask:
    """One lm-eval task read from a local JSON-lines file of the benchmark's real schema.

    ``kind`` is "multiple_choice" (MMLU's schema: question, subject, choices, answer = the
    index of the right choice; prompt and choices as lm-eval's MMLU tasks write them),
    "yes_no" (BoolQ's schema of SuperGLUE: passage, question, label 0/1), "entailment"
    (RTE's schema of SuperGLUE: premise, hypothesis, label 0 = entailment), "minimal_pairs"
    (BLiMP's schema: sentence_good, sentence_bad; right when the good one is likelier) or
    "rolling" (a text per line under ``text``, scored by rolling log-likelihood: word and byte
    perplexity, bits per byte).
    """

    name: str
    kind: str
    data: str  # the file, relative to the answer key's folder

    def config(self, answers: Path) -> dict[str, Any]:
        """The lm-eval task configuration (what its YAML files hold) for this task."""
        base: dict[str, Any] = {
            "task": self.name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(answers / self.data)}},
            "test_split": "test",
            "metadata": {"version": 1.0},
        }
        if self.kind == "multiple_choice":
            return {
                **base,
                "output_type": "multiple_choice",
                "doc_to_text": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\n"
                "C. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:",
                "doc_to_choice": ["A", "B", "C", "D"],
                "doc_to_target": "answer",
                "metric_list": [
                    {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                    {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
                ],
            }
        if self.kind == "yes_no":
            return {
                **base,
                "output_type": "multiple_choice",
                "doc_to_text": "{{passage}}\nQuestion: {{question}}?\nAnswer:",
                "doc_to_choice": ["no", "yes"],
                "doc_to_target": "label",
                "metric_list": [{"metric": "acc"}],
            }
        if self.kind == "entailment":
            return {
                **base,
                "output_type": "multiple_choice",
                "doc_to_text": "{{premise}}\nQuestion: {{hypothesis}} True or False?\nAnswer:",
                "doc_to_choice": ["True", "False"],
                "doc_to_target": "label",
                "metric_list": [{"metric": "acc"}],
            }
        if self.kind == "minimal_pairs":
            return {
                **base,
                "output_type": "multiple_choice",
                "doc_to_text": "",
                "doc_to_choice": "{{[sentence_good, sentence_bad]}}",
                "doc_to_target": 0,
                "metric_list": [{"metric": "acc"}],
            }
        if self.kind == "rolling":
            return {
                **base,
                "output_type": "loglikelihood_rolling",
                "doc_to_text": "",
                "doc_to_target": "{{text}}",
                "should_decontaminate": False,
                "metric_list": [
                    {"metric": "word_perplexity"},
                    {"metric": "byte_perplexity"},
                    {"metric": "bits_per_byte"},
                ],
            }
        raise ValueError(f"unknown LocalTask kind {self.kind!r}")


@dataclass(frozen=True)
class ModelRules:
    """What a task's grader asks of the model and how it scores it."""

    tasks: tuple[LocalTask, ...]
    # (metric name in the scores, the "<task>_<metric>" it copies, or several it averages)
    primary: tuple[str, str | tuple[str, ...]]
    max_parameters: int
    max_bytes: int
    # torch dtype names the parameters may have (None: any); e.g. no quantised weights
    allowed_dtypes: tuple[str, ...] | None = None
    budget_s: float = DEFAULT_BUDGET_S
    max_length: int = 2048
    extra: dict[str, Any] = field(default_factory=dict)


PARAMS_ENV = "MLAB_TASK_PARAMS"  # the form's [params] of task.toml, as a JSON object


def task_params(required: Sequence[str] = ()) -> dict[str, Any]:
    """The [params] of the task form being prepared or graded (task.toml, after the form's
    overrides), which the harness passes as JSON in $MLAB_TASK_PARAMS.

    Exits with a message naming the fix when the variable is missing or not a JSON object, or
    lacks one of ``required``: a script run by hand needs it set, as
    ``mlab_hpc.taskspec.get_task(ID).script_env()`` gives it.
    """
    text = os.environ.get(PARAMS_ENV)
    if text is None:
        sys.exit(
            f"{PARAMS_ENV} is not set: run this script through mlab-hpc (prepare, run, "
            "eval-model), or set it to the task form's [params] as a JSON object"
        )
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        sys.exit(f"{PARAMS_ENV} is not JSON ({exc})")
    if not isinstance(params, dict):
        sys.exit(f"{PARAMS_ENV} must hold a JSON object, got {text[:80]!r}")
    missing = [key for key in required if key not in params]
    if missing:
        sys.exit(f"{PARAMS_ENV} lacks {', '.join(missing)}: add them to the task's [params]")
    return params


def model_rules(
    tasks: tuple[LocalTask, ...],
    primary: tuple[str, str | tuple[str, ...]],
    params: dict[str, Any] | None = None,
) -> ModelRules:
    """The ModelRules of a task form, with its caps from its [params]: ``max_parameters`` and
    ``max_bytes`` (required), ``allowed_dtypes`` (a list; absent: any dtype) and
    ``budget_s`` (absent: DEFAULT_BUDGET_S). ``params`` defaults to task_params()."""
    params = task_params(("max_parameters", "max_bytes")) if params is None else params
    dtypes = params.get("allowed_dtypes")
    return ModelRules(
        tasks=tasks,
        primary=primary,
        max_parameters=int(params["max_parameters"]),
        max_bytes=int(params["max_bytes"]),
        allowed_dtypes=tuple(dtypes) if dtypes is not None else None,
        budget_s=float(params.get("budget_s", DEFAULT_BUDGET_S)),
    )


# --- the child: the agent's model --------------------------------------------------------------


def serve(read_fd: int, write_fd: int, model_dir: Path, remote_code: bool, max_length: int) -> None:
    """The child: load the model with lm-eval's HFLM, answer requests until "stop"."""
    sys.dont_write_bytecode = True
    try:
        import torch
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM

        device = "cuda" if torch.cuda.is_available() else "cpu"
        lm = HFLM(
            pretrained=str(model_dir),
            device=device,
            batch_size=8,
            max_length=max_length,
            trust_remote_code=remote_code,
        )
        model = lm.model
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()})
    except Exception as error:  # noqa: BLE001 - the agent's model may raise anything
        reason = f"loading the model raised {one_line(error)}"
        channel.write_message(write_fd, {"status": "invalid", "reason": reason})
        return
    ready = {"status": "ready", "parameters": total, "trainable": trainable}
    channel.write_message(write_fd, {**ready, "dtypes": dtypes, "device": device})
    while True:
        request = channel.read_message(read_fd, max_bytes=None)  # from the grader: no cap
        op = request.get("op")
        try:
            if op in ("loglikelihood", "loglikelihood_rolling", "generate_until"):
                instances = [
                    Instance(op, {}, tuple(arguments), index)
                    for index, arguments in enumerate(request["arguments"])
                ]
                results = getattr(lm, op)(instances, disable_tqdm=True)
                results = [_plain(r) for r in results]
                channel.write_message(write_fd, {"status": "ok", "results": results})
            elif op == "speed":
                channel.write_message(write_fd, {"status": "ok", **_speed(lm, device)})
            else:
                return
        except Exception as error:  # noqa: BLE001
            reason = f"{op} raised {one_line(error)}"
            channel.write_message(write_fd, {"status": "invalid", "reason": reason})
            return


def _plain(result: Any) -> Any:
    """A result of HFLM as JSON: (log-likelihood, greedy) pairs, floats, strings."""
    if isinstance(result, tuple):
        return [float(result[0]), bool(result[1])]
    if isinstance(result, str):
        return result
    return float(result)


def _speed(lm: Any, device: str) -> dict[str, float]:
    """Greedy generation of SPEED_NEW_TOKENS tokens: median latency and tokens per second."""
    import torch

    ids = lm.tokenizer(SPEED_PROMPT, return_tensors="pt").input_ids.to(device)
    pad = lm.tokenizer.pad_token_id
    pad = pad if pad is not None else lm.tokenizer.eos_token_id
    times = []
    with torch.no_grad():
        for _ in range(SPEED_REPEATS + 1):  # the first run warms up
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            lm.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=SPEED_NEW_TOKENS,
                min_new_tokens=SPEED_NEW_TOKENS,
                do_sample=False,
                pad_token_id=pad,
            )
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    latency = statistics.median(times[1:])
    return {"latency_s": latency, "tokens_per_s": SPEED_NEW_TOKENS / latency}


# --- the parent: size checks, lm-eval, the scores ----------------------------------------------


SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
    "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
}  # fmt: skip


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file (the tensors are not read)."""
    with path.open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if not 0 < size <= 100_000_000:
            raise InvalidModel(f"{path.name} is not a safetensors file (header size {size})")
        try:
            header = json.loads(handle.read(size))
        except ValueError:
            raise InvalidModel(f"{path.name} has an unreadable safetensors header") from None
    if not isinstance(header, dict):
        raise InvalidModel(f"{path.name} has an unreadable safetensors header")
    return {name: entry for name, entry in header.items() if name != "__metadata__"}


def safetensors_parameters(path: Path) -> int:
    """The number of values a .safetensors file declares in its header (the file is not loaded)."""
    return sum(
        math.prod(int(n) for n in entry.get("shape", []))
        for entry in safetensors_header(path).values()
    )


def safetensors_dtypes(path: Path) -> set[str]:
    """The torch names of the dtypes a .safetensors file declares ("float16", "int8"...)."""
    codes = {str(entry.get("dtype")) for entry in safetensors_header(path).values()}
    return {SAFETENSORS_DTYPES.get(code, code.lower()) for code in codes}


def check_directory(model_dir: Path, rules: ModelRules) -> tuple[int, int | None]:
    """(bytes, declared parameters or None) of the model directory, refused over the caps."""
    if not (model_dir / "config.json").is_file():
        raise InvalidModel(
            f"{MODEL_DIR}/config.json is missing: leave a Hugging Face model directory in "
            f"{MODEL_DIR}/ (model.save_pretrained and tokenizer.save_pretrained)"
        )
    files = [p for p in model_dir.rglob("*") if p.is_file()]
    total_bytes = sum(p.stat().st_size for p in files)
    if total_bytes > rules.max_bytes:
        raise InvalidModel(
            f"the model directory holds {total_bytes} bytes, over the task's cap of "
            f"{rules.max_bytes} bytes"
        )
    if not any(p.name.endswith(WEIGHT_SUFFIXES) for p in files):
        raise InvalidModel(f"{MODEL_DIR}/ holds no weights file (*.safetensors or *.bin)")
    shards = [p for p in files if p.name.endswith(".safetensors")]
    declared = sum(safetensors_parameters(p) for p in shards) if shards else None
    if declared is not None and declared > rules.max_parameters:
        raise InvalidModel(
            f"the model's weights declare {declared} parameters, over the task's cap of "
            f"{rules.max_parameters}"
        )
    if rules.allowed_dtypes is not None:
        odd = sorted({d for p in shards for d in safetensors_dtypes(p)} - set(rules.allowed_dtypes))
        if odd:
            raise InvalidModel(
                f"the model's weights are stored as {', '.join(odd)}; the task allows only "
                f"{', '.join(rules.allowed_dtypes)} (no quantised weights)"
            )
    return total_bytes, declared


def ships_code(model_dir: Path) -> bool:
    """Whether the directory brings code of its own for transformers to run (auto_map, *.py)."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    return bool(isinstance(config, dict) and config.get("auto_map")) or any(model_dir.rglob("*.py"))


class ModelProcess:
    """The model in a child process that sees neither the answer key nor the results."""

    def __init__(
        self, model_dir: Path, rules: ModelRules, hide: list[Path], scratch: Path,
        remote_code: bool,
    ) -> None:  # fmt: skip
        self.closed = False
        to_child, self._to_child = os.pipe()
        self._from_child, from_child = os.pipe()
        here = str(Path(__file__).resolve())
        child = untrusted_command(
            [sys.executable, here, "--serve", str(to_child), str(from_child), str(model_dir),
             "1" if remote_code else "0", str(rules.max_length)],
            hide=hide,
            scratch=scratch,
            cwd=scratch,
        )  # fmt: skip
        self.hidden = child.hidden
        if remote_code and not child.hidden:
            for fd in (to_child, self._to_child, self._from_child, from_child):
                os.close(fd)
            raise InvalidModel(
                "the model directory ships code (auto_map or *.py) and this machine cannot "
                "hide the answer key from it (no nested sandbox): such a model is refused"
            )
        self.deadline = time.monotonic() + rules.budget_s
        self.budget_s = rules.budget_s
        env = {**child.env, **OFFLINE_ENV, "PYTHONDONTWRITEBYTECODE": "1"}
        env.update(HF_HOME=str(scratch / "hf"), HF_MODULES_CACHE=str(scratch / "modules"))
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
        self.ready = self._receive("loading the model")

    def _receive(self, what: str) -> dict[str, Any]:
        try:
            reply = channel.read_message(self._from_child, self.deadline)
        except channel.ChannelError as error:
            reason = channel.failure_reason(error, what, self.process, budget_s=self.budget_s)
            raise InvalidModel(reason) from None
        if reply.get("status") == "invalid":
            raise InvalidModel(one_line(str(reply.get("reason"))))
        return reply

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request; the child's reply."""
        try:
            channel.write_message(self._to_child, {"op": op, **fields}, self.deadline)
        except channel.ChannelError:
            pass  # a dead or stuck child: _receive says which
        return self._receive(op)

    def close(self, kill: bool = False) -> None:
        """Ask the child to stop (kill it at once with `kill`, or if it does not stop); once."""
        if self.closed:
            return
        self.closed = True
        try:
            if kill:
                raise OSError("kill")
            channel.write_message(self._to_child, {"op": "stop"}, time.monotonic() + 60)
            self.process.wait(timeout=60)
        except (OSError, channel.ChannelError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._to_child)
            os.close(self._from_child)


def _piped_lm(model: ModelProcess) -> Any:
    """An lm-eval LM whose every request is answered by the model's child process."""
    from lm_eval.api.model import LM

    class PipedLM(LM):  # type: ignore[misc]
        def _ask(self, op: str, requests: list[Any]) -> list[Any]:
            arguments = [list(request.args) for request in requests]
            results = model.request(op, arguments=arguments)["results"]
            if not isinstance(results, list) or len(results) != len(requests):
                raise InvalidModel(f"the model answered {op} with the wrong number of results")
            return results

        def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
            return [(float(a), bool(b)) for a, b in self._ask("loglikelihood", requests)]

        def loglikelihood_rolling(
            self, requests: list[Any], disable_tqdm: bool = False
        ) -> list[float]:
            return [float(value) for value in self._ask("loglikelihood_rolling", requests)]

        def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
            return [str(text) for text in self._ask("generate_until", requests)]

    return PipedLM()


def run_lm_eval(model: ModelProcess, rules: ModelRules, answers: Path) -> dict[str, float]:
    """Every metric of every task, as ``<task>_<metric>``, from lm-eval's evaluator."""
    from lm_eval import evaluator
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_defaults=False, verbosity="ERROR")
    configs = [task.config(answers) for task in rules.tasks]
    results = evaluator.simple_evaluate(
        model=_piped_lm(model),
        tasks=configs,
        task_manager=manager,
        bootstrap_iters=0,
        log_samples=False,
        verbosity="ERROR",
    )
    if results is None:
        raise RuntimeError("lm-eval returned no results")
    metrics: dict[str, float] = {}
    for task_name, values in results["results"].items():
        for key, value in values.items():
            name, _, _filter = key.partition(",")
            if name.endswith("_stderr") or not isinstance(value, int | float):
                continue
            if isinstance(value, bool):
                continue
            metrics[f"{task_name}_{name}"] = float(value)
    return metrics


def loaded_checks(ready: dict[str, Any], rules: ModelRules) -> tuple[int, int]:
    """(total, trainable) parameters the loaded model reported, checked against the caps."""
    total, trainable = int(ready["parameters"]), int(ready["trainable"])
    if total > rules.max_parameters:
        raise InvalidModel(
            f"the loaded model has {total} parameters, over the task's cap of "
            f"{rules.max_parameters}"
        )
    dtypes = [str(d) for d in ready.get("dtypes", [])]
    if rules.allowed_dtypes is not None:
        odd = [d for d in dtypes if d not in rules.allowed_dtypes]
        if odd:
            raise InvalidModel(
                f"the loaded model has {', '.join(odd)} parameters; the task allows only "
                f"{', '.join(rules.allowed_dtypes)} (no quantised weights)"
            )
    return total, trainable


def grade_model(workspace: Path, answers: Path, out_dir: Path, rules: ModelRules) -> dict[str, Any]:
    """Grade the model in ``workspace/output``; the grader's JSON document.

    The model's process sees neither ``answers`` nor ``out_dir`` (the folder of OUT.json);
    its scratch folder, out_dir/model-scratch, is removed afterwards.
    """
    workspace, answers, out_dir = workspace.resolve(), answers.resolve(), out_dir.resolve()
    for hidden in (answers, out_dir):
        if workspace == hidden or hidden in workspace.parents:
            sys.exit(f"the workspace must not be inside {hidden}, hidden from the model")
    missing = [task.data for task in rules.tasks if not (answers / task.data).is_file()]
    if missing:
        sys.exit(f"no {missing[0]} in the answer key {answers}; run prepare first")
    scratch = out_dir / "model-scratch"
    cache = out_dir / "lm-eval-cache"
    settings = {**OFFLINE_ENV, "HF_DATASETS_CACHE": str(cache)}
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)  # lm-eval's datasets cache goes to the writable out_dir
    model: ModelProcess | None = None
    start = time.perf_counter()
    try:
        model_bytes, _ = check_directory(workspace / MODEL_DIR, rules)
        remote_code = ships_code(workspace / MODEL_DIR)
        model = ModelProcess(workspace / MODEL_DIR, rules, [answers, out_dir], scratch, remote_code)
        total, trainable = loaded_checks(model.ready, rules)
        metrics = run_lm_eval(model, rules, answers)
        speed = model.request("speed")
        metrics.update(
            latency_s=float(speed["latency_s"]), tokens_per_s=float(speed["tokens_per_s"])
        )
        model.close()
    except InvalidModel as invalid:
        return {"valid": False, "reason": str(invalid), "metrics": {}, "agent_reported": None}
    finally:
        if model is not None:
            model.close(kill=True)  # no-op after a clean close; else it may be stuck
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    name, source = rules.primary
    sources = (source,) if isinstance(source, str) else source
    absent = [each for each in sources if each not in metrics]
    if absent:
        raise RuntimeError(f"lm-eval gave no {absent[0]}; it gave {sorted(metrics)}")
    metrics[name] = sum(metrics[each] for each in sources) / len(sources)
    rolling = [t.name for t in rules.tasks if t.kind == "rolling"]
    if rolling and "perplexity" not in metrics:
        metrics["perplexity"] = metrics[f"{rolling[0]}_word_perplexity"]
    metrics.update(
        parameters=float(total),
        trainable_parameters=float(trainable),
        model_bytes=float(model_bytes),
        eval_s=time.perf_counter() - start,
        answers_hidden=float(model.hidden),
        on_gpu=float(model.ready.get("device") == "cuda"),
    )
    return {"valid": True, "reason": "", "metrics": metrics, "agent_reported": None}


def main(rules: ModelRules, doc: str | None = None, argv: Sequence[str] | None = None) -> None:
    """The command line of a task's grader: --workspace, --answers, --out; or --serve (child)."""
    import argparse

    parser = argparse.ArgumentParser(description=(doc or "Grade a model.").strip().splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    result = grade_model(args.workspace, args.answers, out.parent, rules)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        read_fd, write_fd, directory, remote, length = sys.argv[2:7]
        serve(int(read_fd), int(write_fd), Path(directory), remote == "1", int(length))
