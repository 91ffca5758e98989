"""What the prepare.py of the model tasks share: the tiny offline base model and the evaluation
sets of the benchmarks' real schemas, for ``--generated``; and the conversion of the real
downloads (parquet files of the Hugging Face datasets) into the JSON-lines files the grader
reads (see mlab_model_eval.LocalTask).

Everything here is deterministic: the same call writes byte-identical files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

try:
    from mlab_prepare import PrepareError, task_params
except ModuleNotFoundError:  # imported as mlab_hpc.grader_lib.mlab_model_eval_data
    from mlab_hpc.grader_lib.mlab_prepare import PrepareError, task_params

SUBJECTS = ("anatomy", "astronomy", "economics", "history", "physics", "law")
NOUNS = ("star", "cell", "market", "king", "atom", "court", "river", "engine", "planet", "bone")
VERBS = ("moves", "grows", "holds", "breaks", "turns", "makes", "finds", "keeps")
ADJECTIVES = ("large", "small", "bright", "old", "new", "heavy", "quick", "cold")


def sentence(rng: np.random.Generator) -> str:
    """One sentence of the toy grammar the generated sets are written in."""
    words = ["the", str(rng.choice(ADJECTIVES)), str(rng.choice(NOUNS)), str(rng.choice(VERBS)),
             "the", str(rng.choice(NOUNS))]  # fmt: skip
    return " ".join(words).capitalize() + "."


def corpus(seed: int, lines: int) -> list[str]:
    """`lines` lines of one to three toy sentences."""
    rng = np.random.default_rng(seed)
    return [" ".join(sentence(rng) for _ in range(int(rng.integers(1, 4)))) for _ in range(lines)]


def mmlu_rows(seed: int, count: int) -> list[dict[str, Any]]:
    """Multiple-choice questions of MMLU's schema: question, subject, choices (4), answer."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        noun = str(rng.choice(NOUNS))
        choices = [str(v) for v in rng.choice(VERBS, size=4, replace=False)]
        rows.append({
            "question": f"What does the {noun} do?",
            "subject": str(rng.choice(SUBJECTS)),
            "choices": choices,
            "answer": int(rng.integers(0, 4)),
        })  # fmt: skip
    return rows


def blimp_rows(seed: int, count: int) -> list[dict[str, Any]]:
    """Minimal pairs of BLiMP's schema: sentence_good, sentence_bad (and BLiMP's labels)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        noun, verb, other = rng.choice(NOUNS), rng.choice(VERBS), rng.choice(NOUNS)
        good = f"The {noun} {verb} the {other}."
        bad = f"The {noun} the {other} {verb}."
        rows.append({"sentence_good": good, "sentence_bad": bad, "field": "syntax",
                     "linguistics_term": "word_order", "UID": "generated_word_order",
                     "pairID": str(index)})  # fmt: skip
    return rows


def boolq_rows(seed: int, count: int) -> list[dict[str, Any]]:
    """Yes/no questions of BoolQ's (SuperGLUE) schema: passage, question, label, idx."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        noun, verb = str(rng.choice(NOUNS)), str(rng.choice(VERBS))
        asked = str(rng.choice(VERBS))
        rows.append({"passage": f"The {noun} {verb} every day.",
                     "question": f"does the {noun} {asked.removesuffix('s')}",
                     "label": int(asked == verb), "idx": index})  # fmt: skip
    return rows


def rte_rows(seed: int, count: int) -> list[dict[str, Any]]:
    """Entailment pairs of RTE's (SuperGLUE) schema: premise, hypothesis, label (0 = entailed)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        noun, other = (str(v) for v in rng.choice(NOUNS, 2, replace=False))
        verb = str(rng.choice(VERBS))
        claimed = str(rng.choice(VERBS))
        rows.append({"premise": f"The {noun} {verb} the {other}.",
                     "hypothesis": f"The {noun} {claimed} the {other}.",
                     "label": int(claimed != verb), "idx": index})  # fmt: skip
    return rows


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """One JSON object a line, keys in the given order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def text_rows(lines: Iterable[str]) -> list[dict[str, str]]:
    """{"text": line} rows (the rolling-perplexity sets and the training corpora)."""
    return [{"text": line} for line in lines]


def tiny_model(folder: Path, texts: list[str], *, seed: int = 0, hidden: int = 64,
               layers: int = 2, vocab: int = 384) -> None:  # fmt: skip
    """A random-initialised Llama-architecture causal LM and a byte-level BPE tokenizer trained
    on `texts`, saved as a Hugging Face model directory in `folder` (offline)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    wrapped.save_pretrained(folder)


def parquet_rows(path: Path, columns: list[str]) -> list[dict[str, Any]]:
    """The rows of a downloaded parquet file, only `columns`, as plain JSON values."""
    import pandas as pd

    table = pd.read_parquet(path, columns=columns)
    rows = []
    for record in table.to_dict(orient="records"):
        rows.append({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in record.items()})
    return rows


def mmlu_sample(rows: list[dict], seed: int) -> list[dict]:
    """The form's mmlu_questions questions ([params], $MLAB_TASK_PARAMS) drawn with ``seed``,
    in file order; every question when the form asks for as many as there are or more."""
    count = int(task_params(("mmlu_questions",))["mmlu_questions"])
    if count >= len(rows):
        return rows
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows), count, replace=False))
    return [rows[i] for i in chosen]


def copy_model(source: Path, target: Path) -> None:
    """Copy a downloaded Hugging Face model folder; PrepareError unless it holds config.json
    and .safetensors weights."""
    if not (source / "config.json").is_file():
        raise PrepareError(f"{source}/config.json is missing; run prepare again")
    if not any(p.suffix == ".safetensors" for p in source.iterdir()):
        raise PrepareError(f"{source} holds no .safetensors weights; run prepare again")
    shutil.copytree(source, target, dirs_exist_ok=True)


def mmlu_questions(path: Path, seed: int) -> list[dict]:
    """The form's sample (``mmlu_sample``) of the MMLU questions in a downloaded parquet file
    (cais/mmlu), with the grader's fields: question, subject, choices, answer."""
    return mmlu_sample(parquet_rows(path, ["question", "subject", "choices", "answer"]), seed)


def wikitext_lines(path: Path) -> list[str]:
    """The text lines of a downloaded WikiText parquet file, stripped, in file order, without
    blank lines and section headings (" = Title = ")."""
    lines = [row["text"].strip() for row in parquet_rows(path, ["text"])]
    return [line for line in lines if line and not line.startswith("=")]


def alpaca_texts(path: Path) -> list[str]:
    """Alpaca's instruction/response pairs (a downloaded parquet file) as one text each:
    "Instruction: ...", "Input: ..." when there is one, "Response: ..."."""
    return [
        f"Instruction: {r['instruction']}\n"
        + (f"Input: {r['input']}\n" if r["input"] else "")
        + f"Response: {r['output']}"
        for r in parquet_rows(path, ["instruction", "input", "output"])
    ]


def write_documents(path: Path, documents: Iterable[str]) -> None:
    """Write plain-text documents separated by one blank line (blank lines inside a document,
    and empty documents, are dropped)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cleaned = ["\n".join(line for line in doc.splitlines() if line.strip()) for doc in documents]
    path.write_text("".join(doc + "\n\n" for doc in cleaned if doc), encoding="utf-8")
