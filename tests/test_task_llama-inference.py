"""The llama-inference task: speed up greedy generation with a Llama model, output unchanged.

The safetensors writer (prepare.py) and reader (the starter) on hand-made tensors; the
grader's logit-gap rule on hand-made logits; the grader run as the harness runs it on the
starter, on a slowed-down starter (its throughput bounded by hand) and on a KV-cache rewrite;
invalid workspaces with their one-line reasons; prepare.py on a miniature of the Hub's files
(model shards, tokenizer.json, the wikitext parquet) through mlab_hpc.data.prepare; --generated
byte-identical across runs; a whole baseline run with --smoke.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

from mlab_hpc.data import MANIFEST, prepare, verify
from mlab_hpc.grader_lib.mlab_timing import median_interval, rotation, speedup_over_waves
from mlab_hpc.taskspec import load_task
from tests.task_helpers import COMPLETED, baseline_run, generated_twice, run_grader

TASK = "llama-inference"
TASK_DIR = Path(__file__).resolve().parents[1] / "tasks" / TASK
STARTER = (TASK_DIR / "env" / "inference.py").read_text()
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def load_module(path: Path, name: str) -> ModuleType:
    """Import a task script as a module, without running its main."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


PREPARE = load_module(TASK_DIR / "scripts" / "prepare.py", "llama_inference_prepare")
INFERENCE = load_module(TASK_DIR / "env" / "inference.py", "llama_inference_starter")
EVAL = load_module(TASK_DIR / "scripts" / "eval.py", "llama_inference_eval")


def run_prepare_generated(out: Path, hash_seed: str = "0") -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(TASK_DIR / "scripts" / "prepare.py"),
            "--generated",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The private/ folder of the generated data (the grader's model and hidden prompts)."""
    out = tmp_path_factory.mktemp("generated")
    run_prepare_generated(out)
    return out / "private"


def workspace_with(tmp_path: Path, source: str | None) -> Path:
    """A workspace holding `source` as inference.py (nothing when None)."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    if source is not None:
        (workspace / "inference.py").write_text(source)
    return workspace


def grade(workspace: Path, answers: Path) -> dict[str, Any]:
    """Run the grader on `workspace` as the harness does, one thread; return its OUT.json."""
    result = run_grader(TASK, workspace, answers, env=ONE_THREAD, timeout=300)
    assert result["agent_reported"] is None
    assert not list(workspace.rglob("__pycache__")), "the grader wrote into the workspace"
    return result


def grade_here(workspace: Path, answers: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The grader's grade() in this process (it still runs inference.py in a child)."""
    for name, value in ONE_THREAD.items():
        monkeypatch.setenv(name, value)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the reference check, here, on a shared machine
    try:
        out_dir = workspace.parent / "grader-out"
        out_dir.mkdir(exist_ok=True)
        return EVAL.grade(workspace, answers, out_dir)
    finally:
        torch.set_num_threads(threads)


# --- safetensors and the logit-gap rule, by hand -----------------------------------------------


def test_safetensors_written_by_prepare_read_by_the_starter(tmp_path: Path) -> None:
    tensors = {
        "b": np.array([[1.5, -2.0], [0.25, 4.0]], dtype=np.float16),
        "a": np.array([1, 2, 3], dtype=np.int64),
    }
    path = tmp_path / "x.safetensors"

    PREPARE.write_safetensors(path, tensors)

    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    assert length % 8 == 0
    # name order: a (3 int64 = 24 bytes) then b (4 float16 = 8 bytes)
    assert header["a"] == {"dtype": "I64", "shape": [3], "data_offsets": [0, 24]}
    assert header["b"] == {"dtype": "F16", "shape": [2, 2], "data_offsets": [24, 32]}
    assert len(raw) == 8 + length + 32
    read = INFERENCE.read_safetensors(path)
    assert read["a"].tolist() == [1, 2, 3]
    assert read["b"].dtype == torch.float16
    assert read["b"].tolist() == [[1.5, -2.0], [0.25, 4.0]]


def test_logit_gaps_by_hand() -> None:
    logits = torch.tensor([[[0.0, 1.0, 0.9, -1.0], [2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.5]]])
    tokens = torch.tensor([[2, 0, 3]])

    gaps, is_best = EVAL.logit_gaps(logits, tokens)

    assert gaps[0].tolist() == pytest.approx([0.1, 0.0, 2.5])
    assert is_best[0].tolist() == [False, True, False]


def test_fresh_prompts_change_only_the_token_after_bos() -> None:
    prompts = np.arange(4 * 6).reshape(4, 6)

    fresh = EVAL.fresh_prompts(prompts, 10)

    assert (np.delete(fresh, 1, axis=1) == np.delete(prompts, 1, axis=1)).all()
    assert ((fresh[:, 1] >= 3) & (fresh[:, 1] < 10)).all()


def test_the_starter_model_matches_transformers(answers: Path) -> None:
    transformers = pytest.importorskip("transformers", reason="a check against the Hub's Llama")
    model_dir = answers / "model"
    theirs = transformers.LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    ours = INFERENCE.load_model(model_dir, "cpu")
    prompts = torch.from_numpy(np.load(answers / "prompts.npy")[:4])

    with torch.no_grad():
        expected = theirs.eval()(prompts).logits
        greedy = theirs.generate(
            prompts,
            attention_mask=torch.ones_like(prompts),
            max_new_tokens=16,
            do_sample=False,
            eos_token_id=None,  # ours never stops early: always 16 new tokens
            pad_token_id=0,
        )[:, 128:]
        assert torch.allclose(ours(prompts), expected, atol=1e-4)
    assert INFERENCE.generate(ours, prompts, 16) == greedy.tolist()


# --- the grader on whole workspaces -----------------------------------------------------------

SLEEPY = (
    STARTER
    + """

import time as _time
_original_generate = generate


def generate(model, prompt_ids, max_new_tokens):
    _time.sleep(0.25)
    return _original_generate(model, prompt_ids, max_new_tokens)
"""
)

KV_CACHE = (
    STARTER
    + '''

def _block_with_cache(layer, x, cache, start):
    """One decoder layer on the new positions x, attending to the cached keys and values."""
    attn = layer.self_attn
    h = layer.input_layernorm(x)
    batch, length, _ = h.shape
    shape = (batch, length, -1, attn.head_dim)
    q = attn.q_proj(h).view(shape).transpose(1, 2)
    k = attn.k_proj(h).view(shape).transpose(1, 2)
    v = attn.v_proj(h).view(shape).transpose(1, 2)
    positions = torch.arange(start, start + length, device=x.device)
    cos, sin = rotary_tables(positions, attn.head_dim, attn.theta, h.dtype)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    if cache is not None:
        k = torch.cat([cache[0], k], dim=2)
        v = torch.cat([cache[1], v], dim=2)
    repeat = attn.n_heads // attn.n_kv_heads
    keys, values = k.repeat_interleave(repeat, 1), v.repeat_interleave(repeat, 1)
    scores = (q @ keys.transpose(-2, -1)) / attn.head_dim**0.5
    total = keys.shape[2]
    future = torch.arange(total, device=x.device)[None, :] > positions[:, None]
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    out = (weights @ values).transpose(1, 2).reshape(batch, length, -1)
    x = x + attn.o_proj(out)
    return x + layer.mlp(layer.post_attention_layernorm(x)), (k, v)


@torch.no_grad()
def generate(model, prompt_ids, max_new_tokens):
    device = next(model.parameters()).device
    step_ids = torch.as_tensor(prompt_ids, dtype=torch.long).to(device)
    caches = [None] * len(model.model.layers)
    start, new = 0, []
    for _ in range(max_new_tokens):
        x = model.model.embed_tokens(step_ids)
        for index, layer in enumerate(model.model.layers):
            x, caches[index] = _block_with_cache(layer, x, caches[index], start)
        next_ids = model.lm_head(model.model.norm(x[:, -1])).argmax(dim=-1)
        start += step_ids.shape[1]
        step_ids = next_ids[:, None]
        new.append(next_ids)
    return torch.stack(new, dim=1)
'''
)


def test_median_interval_uses_order_statistics() -> None:
    assert median_interval([float(v) for v in range(10)]) == (1.0, 8.0)
    assert median_interval([2.0, 0.5, 1.0]) == (0.5, 2.0)


def test_rotation_gives_every_process_every_place() -> None:
    orders = [rotation(index, ("agent", "starter", "control")) for index in range(6)]

    assert len(set(orders)) == 6
    for name in ("agent", "starter", "control"):
        assert sorted(order.index(name) for order in orders) == [0, 0, 1, 1, 2, 2]
    assert [rotation(index, ("agent", "starter")) for index in range(3)] == [
        ("agent", "starter"),
        ("starter", "agent"),
        ("agent", "starter"),
    ]


def test_a_lasting_difference_between_processes_counts_once_per_wave() -> None:
    # In one wave the starter's process is 30% slower than the candidate's for its whole life
    # (every batch), in the others the two processes run alike: that wave is one draw, not
    # three consistent batches, and the interval over 8 waves starts at the smallest ratio.
    waves = [([1.0, 1.0, 1.0], [1.3, 1.3, 1.3])] + [([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])] * 7

    metrics = speedup_over_waves(waves)

    assert metrics["speedup"] == 1.0
    assert (metrics["speedup_low"], metrics["speedup_high"]) == (1.0, pytest.approx(1.3))
    assert (metrics["timing_waves"], metrics["timing_pairs"]) == (8.0, 24.0)


def test_a_wave_ratio_is_the_median_of_its_batches() -> None:
    # one batch of each wave hit by a hiccup in the candidate's process (3x as long): the
    # median over the wave's batches ignores it
    waves = [([0.5, 0.5, 1.5], [1.0, 1.0, 1.0])] * 8

    metrics = speedup_over_waves(waves)

    assert metrics["speedup"] == metrics["speedup_low"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="same timed batches"):
        speedup_over_waves([([1.0, 1.0], [1.0])])
    with pytest.raises(ValueError, match="at least one wave"):
        speedup_over_waves([])


def test_the_unchanged_starter_passes_in_all_8_waves_rarely_even_with_wild_noise() -> None:
    # The sign argument behind WAVES = 8, checked by simulation: each process has a lasting
    # speed factor (log-normal, sd 0.3: two identical processes often 30-50% apart) and each
    # batch its own noise; an unchanged candidate reaches speedup_low >= 1.10 in well under
    # 2**-8 of gradings.
    rng = np.random.default_rng(7)
    trials, passes = 20_000, 0
    for _ in range(trials):
        waves = []
        for _ in range(EVAL.WAVES):
            candidate, starter = np.exp(rng.normal(0, 0.3, size=2))
            noise = np.exp(rng.normal(0, 0.1, size=(2, EVAL.TIMED_BATCHES_PER_WAVE)))
            waves.append((list(candidate * noise[0]), list(starter * noise[1])))
        passes += speedup_over_waves(waves)["speedup_low"] >= EVAL.SUCCESS_SPEEDUP
    assert passes / trials < 2**-8, passes


@pytest.mark.slow  # 20 gradings, each of 8 waves of two fresh processes
def test_an_unchanged_starter_never_succeeds_in_20_tries(
    tmp_path: Path, answers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paired timing of the starter against itself: speedup_low stays below 1.10, 20 of 20.

    With one pair of processes for the whole grading this failed (two processes running the
    same code differ by up to ~50% for their whole life on a shared machine: speedup_low up
    to 1.28 in 20 tries), and with a third "control" process whose drift widened the
    interval it still failed once in a full-suite run. The figures are printed (`pytest -s`)
    for the README.
    """
    workspace = workspace_with(tmp_path, STARTER)
    figures = []
    for _ in range(20):
        metrics = grade_here(workspace, answers, monkeypatch)["metrics"]
        figures.append(tuple(round(metrics[k], 3) for k in ("speedup_low", "speedup")))
    print("\nspeedup_low, speedup:", figures)

    assert all(low < EVAL.SUCCESS_SPEEDUP for low, _ in figures), figures


def test_the_starter_is_valid_and_unchanged(tmp_path: Path, answers: Path) -> None:
    result = grade(workspace_with(tmp_path, STARTER), answers)

    assert result["valid"], result["reason"]
    metrics = result["metrics"]
    assert metrics["exact_token_fraction"] == 1.0
    assert metrics["max_logit_gap"] < 1e-4
    assert metrics["ms_per_token"] == pytest.approx(1000 / metrics["tokens_per_s"])
    assert metrics["load_s"] >= 0
    assert metrics["answers_hidden"] == 1.0  # bwrap works here: the prompts were hidden
    # timed against the starter in the same job: no improvement beyond the noise
    assert metrics["timing_waves"] == 8.0  # 8 pairs of fresh processes
    assert metrics["timing_pairs"] == 24.0  # each wave: 4 of the 32 batches, less a warm-up
    assert metrics["speedup_low"] <= metrics["speedup"] <= metrics["speedup_high"]
    assert metrics["speedup_low"] < EVAL.SUCCESS_SPEEDUP


def test_throughput_of_a_slowed_starter(tmp_path: Path, answers: Path) -> None:
    # 24 timed batches (8 waves of 4, less a warm-up each) of 4 prompts x 16 new tokens = 1536
    # tokens; each call sleeps 0.25 s, so at most 1536 / 6 = 256 tokens per second.
    result = grade(workspace_with(tmp_path, SLEEPY), answers)

    assert result["valid"], result["reason"]
    assert 0 < result["metrics"]["tokens_per_s"] <= 256
    assert result["metrics"]["ms_per_token"] >= 1000 * 6 / 1536
    assert result["metrics"]["speedup"] < 1.0  # slower than the starter timed alongside


def test_a_kv_cache_keeps_the_output_and_is_scored_a_success(tmp_path: Path, answers: Path) -> None:
    result = grade(workspace_with(tmp_path, KV_CACHE), answers)

    assert result["valid"], result["reason"]
    metrics = result["metrics"]
    assert metrics["exact_token_fraction"] == 1.0
    assert metrics["max_logit_gap"] < 1e-3
    # a genuine speedup (several times on CPU) is seen in every one of the 8 waves
    assert metrics["timing_waves"] == 8.0
    assert metrics["speedup_low"] >= EVAL.SUCCESS_SPEEDUP, metrics


# An attack on the clock rather than on the model: helpers forked in load_model spin on every
# core whenever generate is not running, i.e. exactly while the starter is timed. Before the
# grader stopped the idle process's tree, this unchanged starter scored speedup 2.9-3.0 here
# (speedup_low 1.9-2.4, a success by far); now its waves look like any unchanged starter's.
BUSY_WHILE_IDLE = (
    STARTER
    + """

import multiprocessing as _multiprocessing

_busy = None


def _spin(flag):
    while True:
        if flag.value:
            total = 0
            for step in range(20000):
                total += step
        else:
            time.sleep(0.0005)


_plain_load, _plain_generate = load_model, generate


def load_model(model_dir, device):
    global _busy
    _busy = _multiprocessing.Value("b", 1, lock=False)
    fork = _multiprocessing.get_context("fork")
    for _ in range(2 * (os.cpu_count() or 2)):
        fork.Process(target=_spin, args=(_busy,), daemon=True).start()
    return _plain_load(model_dir, device)


def generate(model, prompt_ids, max_new_tokens):
    _busy.value = 0
    try:
        return _plain_generate(model, prompt_ids, max_new_tokens)
    finally:
        _busy.value = 1
"""
)


def test_helpers_that_keep_the_machine_busy_while_the_starter_is_timed_gain_nothing(
    tmp_path: Path, answers: Path
) -> None:
    result = grade(workspace_with(tmp_path, BUSY_WHILE_IDLE), answers)

    assert result["valid"], result["reason"]
    metrics = result["metrics"]
    assert metrics["speedup_low"] < EVAL.SUCCESS_SPEEDUP, metrics
    assert metrics["speedup"] < 1.5, metrics  # 2.9-3.0 when the helpers ran unpaused


def wrapped(body: str) -> str:
    """The starter with generate replaced by one whose body is `body` (original: _generate)."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return (
        STARTER
        + "\n\n_generate = generate\n\n\n"
        + "def generate(model, prompt_ids, max_new_tokens):\n"
        + indented
        + "\n"
    )


NEAR_TIES = """
ids = prompt_ids.clone()
for _ in range(max_new_tokens):
    top = model(ids)[:, -1].topk(2)
    near = (top.values[:, 0] - top.values[:, 1]) < 0.2
    pick = torch.where(near, top.indices[:, 1], top.indices[:, 0])
    ids = torch.cat([ids, pick[:, None]], dim=1)
return ids[:, prompt_ids.shape[1]:]
"""


# Answers computed in load_model from the grader's own prompts.npy (which the agent's code can
# read while it is graded): useless, since a token of every prompt is drawn at grading time.
LOOKUP = (
    STARTER
    + """

_load_model, _generate = load_model, generate


def load_model(model_dir, device):
    model = _load_model(model_dir, device)
    prompts = torch.from_numpy(np.load(Path(model_dir).parent / "prompts.npy"))
    answers = _generate(model, prompts, GENERATION_LENGTH)
    model.answers = {tuple(p[2:].tolist()): a for p, a in zip(prompts, answers)}
    return model


def generate(model, prompt_ids, max_new_tokens):
    return [model.answers[tuple(p[2:].tolist())] for p in prompt_ids]
"""
)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (None, "inference.py is missing from the workspace"),
        ("import no_such_module\n", "importing inference.py raised ModuleNotFoundError"),
        (STARTER.replace("def load_model(", "def load(", 1), "defines no load_model function"),
        (
            wrapped("raise RuntimeError('out of ideas')"),
            "generate raised RuntimeError: out of ideas",
        ),
        (
            wrapped("return [row[:-1] for row in _generate(model, prompt_ids, max_new_tokens)]"),
            "generate returned shape (4, 15) for a batch of 4 prompts; expected (4, 16)",
        ),
        (
            wrapped("return torch.full((len(prompt_ids), max_new_tokens), float('nan'))"),
            "generate returned float32 values, not integer token ids",
        ),
        (
            wrapped("return torch.full((len(prompt_ids), max_new_tokens), 256)"),
            "token id 256, outside the vocabulary 0..255",
        ),
        (
            wrapped(
                "out = torch.tensor(_generate(model, prompt_ids, max_new_tokens))\n"
                "out[:, -1] = (out[:, -1] + 1) % 256\n"
                "return out"
            ),
            "new token 15",
        ),
        # the prompts file is hidden from the agent's process (mlab_untrusted), so reading it
        # fails; were it readable, the fresh token after BOS would still defeat the lookup
        (LOOKUP, "load_model raised PermissionError"),
        (
            wrapped("import os\nos._exit(3)"),
            "the process running inference.py ended (exit code 3) during generate",
        ),
        (wrapped(NEAR_TIES), "generated tokens are the exact greedy choice (at least 95%"),
    ],
    ids=[
        "missing",
        "import-error",
        "no-load_model",
        "raises",
        "wrong-shape",
        "nan",
        "out-of-vocab",
        "changed",
        "lookup",
        "exits",
        "near-ties",
    ],
)
def test_invalid_workspaces(
    tmp_path: Path,
    answers: Path,
    source: str | None,
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = grade_here(workspace_with(tmp_path, source), answers, monkeypatch)

    assert not result["valid"]
    assert result["metrics"] == {}
    assert reason in result["reason"], result["reason"]
    assert "\n" not in result["reason"]


def test_generation_over_the_budget(
    tmp_path: Path, answers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EVAL, "GENERATION_BUDGET_S", 1.0)
    slow = wrapped(
        "import time\ntime.sleep(30)\nreturn _generate(model, prompt_ids, max_new_tokens)"
    )

    started = time.monotonic()
    result = grade_here(workspace_with(tmp_path, slow), answers, monkeypatch)

    assert not result["valid"]
    assert result["reason"] == (
        "generate was still running when the grading budget of 1 s for timed generation ran out"
    )
    assert time.monotonic() - started < 20, "the stuck child is killed, not waited for"


def test_the_grader_keeps_a_pristine_starter() -> None:
    reference = TASK_DIR / "scripts" / "reference_inference.py"
    assert reference.read_text() == STARTER


# --- prepare ------------------------------------------------------------------------------------

WORDS = [f"w{index}" for index in range(40)]
MINI_CONFIG = {**PREPARE.GENERATED_CONFIG, "vocab_size": 3 + len(WORDS), "torch_dtype": "float16"}


def mini_source(raw: Path) -> list[list[str]]:
    """The Hub's files in miniature under `raw`; returns the qualifying lines' words."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    model_dir = raw / "llama-7b"
    model_dir.mkdir(parents=True)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {word: 3 + i for i, word in enumerate(WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(model_dir / "tokenizer.json"))
    (model_dir / "config.json").write_text(json.dumps(MINI_CONFIG))
    weights = PREPARE.generated_weights(MINI_CONFIG, np.random.default_rng(0))
    first = {name: w for name, w in weights.items() if name.startswith("model.layers.0.")}
    second = {name: w for name, w in weights.items() if name not in first}
    PREPARE.write_safetensors(model_dir / "model-00001-of-00002.safetensors", first)
    PREPARE.write_safetensors(model_dir / "model-00002-of-00002.safetensors", second)
    weight_map = {name: "model-00001-of-00002.safetensors" for name in first} | {
        name: "model-00002-of-00002.safetensors" for name in second
    }
    (model_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))

    rng = np.random.default_rng(7)
    texts, qualifying = [], []
    for index in range(600):
        if index % 10 == 0:
            texts.append("")  # wikitext's empty lines
        elif index % 10 == 5:
            texts.append(" = Title = \n")  # a heading: too short
        else:
            words = [
                WORDS[i] for i in rng.integers(0, len(WORDS), size=int(rng.integers(127, 200)))
            ]
            texts.append(" " + " ".join(words) + " \n")
            qualifying.append(words)
    import pyarrow as pa
    import pyarrow.parquet as pq

    (raw / "wikitext-103-v1").mkdir()
    pq.write_table(pa.table({"text": texts}), raw / "wikitext-103-v1/test-00000-of-00001.parquet")
    return qualifying


def test_prepare_from_the_hub_files(tmp_path: Path, data_root: Path) -> None:
    pytest.importorskip("tokenizers", reason="real-mode prepare tokenizes with `tokenizers`")
    raw = tmp_path / "raw"
    qualifying = mini_source(raw)

    prepared = prepare(load_task(TASK_DIR), "real", data_root, from_dir=raw)

    root = prepared.root
    assert verify(root) == []
    manifest = json.loads((root / MANIFEST).read_text())
    assert not any(name.startswith("raw/") for name in manifest["files"])
    # BOS (1), then the first 127 words of a line, each word its vocabulary id (3 + its index)
    expected = np.array([[1] + [3 + int(w[1:]) for w in words[:127]] for words in qualifying])
    public = np.load(root / "public" / "prompts.npy")
    private = np.load(root / "private" / "prompts.npy")
    assert public.dtype == private.dtype == np.int64
    assert (public == expected[:400]).all()
    assert (private == expected[400:444]).all()
    names = sorted(p.name for p in (root / "public" / "model").iterdir())
    assert names == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
    ]
    for name in names:
        source = (raw / "llama-7b" / name).read_bytes()
        assert (root / "public" / "model" / name).read_bytes() == source
        assert (root / "private" / "model" / name).read_bytes() == source
    assert sorted(p.name for p in (root / "private").iterdir()) == ["model", "prompts.npy"]
    assert sorted(p.name for p in (root / "public").iterdir()) == ["model", "prompts.npy"]


def test_prepare_says_what_is_missing(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "llama-7b").mkdir(parents=True)
    (raw / "llama-7b" / "config.json").write_text(json.dumps(MINI_CONFIG))

    done = subprocess.run(
        [
            sys.executable,
            str(TASK_DIR / "scripts" / "prepare.py"),
            "--raw",
            str(raw),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
    )

    assert done.returncode == 1
    assert "prepare.py: error: no .safetensors file in llama-7b/" in done.stderr


def test_generated_is_byte_identical_and_loads(tmp_path: Path) -> None:
    public = generated_twice(TASK, tmp_path) / "public"
    prompts = np.load(public / "prompts.npy")
    assert prompts.shape == (40, 128) and (prompts[:, 0] == 1).all()
    assert np.load(tmp_path / "first" / "private" / "prompts.npy").shape == (16, 128)
    model = INFERENCE.load_model(public / "model", "cpu")
    assert len(model.model.layers) == 2
    with torch.no_grad():
        assert model(torch.from_numpy(prompts[:2])).shape == (2, 128, 256)


# --- a whole run --------------------------------------------------------------------------------


def test_task_spec() -> None:
    task = load_task(TASK_DIR)

    assert (task.starter, task.environment, task.resources.gpus) == ("inference.py", "torch", 1)
    assert (task.metric.name, task.metric.direction) == ("tokens_per_s", "higher")
    assert (task.limits.max_steps, task.limits.max_time_s) == (50, 18000)
    assert [f.path for f in task.data.files][-1] == "wikitext-103-v1/test-00000-of-00001.parquet"


def test_baseline_run_on_generated_data(results: Path, data_root: Path) -> None:
    run = baseline_run(TASK, results, "--smoke")

    assert (run["status"], run["final_valid"], run["data_mode"]) == COMPLETED
    assert run["final_score"] > 1  # tokens per second
