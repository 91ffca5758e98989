"""Train a language model from scratch on the text files under CORPUS and save it in output/.

1. a byte-level BPE tokenizer (VOCAB tokens) is trained on the corpus with `tokenizers`;
2. a Llama-architecture model is built from model_config.json with random weights;
3. the corpus, tokenised and packed into blocks of BLOCK tokens, trains it with AdamW for
   STEPS steps (linear warm-up, cosine decay), reporting the loss on the development texts;
4. the model and its tokenizer are saved with save_pretrained in output/, the directory the
   grader loads with AutoModelForCausalLM / AutoTokenizer.

Runs on a GPU when there is one. With MLAB_SMOKE=1 (quick tests of the harness only) it
takes a few steps with a tiny model.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CORPUS = Path("corpus")  # train/*.txt and dev/*.txt, one document or utterance a line
OUTPUT = Path("output")
SMOKE = os.environ.get("MLAB_SMOKE") == "1"
SEED = int(os.environ.get("MLAB_SEED", "0"))
VOCAB = 512 if SMOKE else 16_000
STEPS = 3 if SMOKE else 4000
BLOCK = 64 if SMOKE else 256
BATCH = 4 if SMOKE else 32
LEARNING_RATE = 6e-4
WARMUP = 1 if SMOKE else 200
EOS = "<|endoftext|>"


def lines(split: str) -> list[str]:
    """The non-blank lines of the corpus files of one split, in file-name order."""
    found = []
    for path in sorted((CORPUS / split).glob("*.txt")):
        found += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return found


def train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=EOS, bos_token=EOS, pad_token=EOS
    )


def packed(tokenizer: PreTrainedTokenizerFast, texts: list[str]) -> torch.Tensor:
    """The texts as one stream of ids (each ended by EOS) cut into rows of BLOCK tokens."""
    ids: list[int] = []
    for encoded in tokenizer(texts).input_ids:
        ids += [*encoded, tokenizer.eos_token_id]
    rows = max(1, len(ids) // BLOCK)
    ids = (ids * (1 + rows * BLOCK // max(1, len(ids))))[: rows * BLOCK]
    return torch.tensor(ids).view(rows, BLOCK)


def model_config(tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    settings = json.loads(Path("model_config.json").read_text())
    if SMOKE:
        settings.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2)
    eos = tokenizer.eos_token_id
    settings.update(vocab_size=len(tokenizer), bos_token_id=eos, eos_token_id=eos,
                    pad_token_id=eos)  # fmt: skip
    return LlamaConfig(**settings)


def main() -> None:
    torch.manual_seed(SEED)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_texts, dev_texts = lines("train"), lines("dev")
    tokenizer = train_tokenizer(train_texts)
    train, dev = packed(tokenizer, train_texts), packed(tokenizer, dev_texts[:2000])
    model = LlamaForCausalLM(model_config(tokenizer)).to(device)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters, {train.numel():,} tokens")
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.1)

    def rate(step: int) -> float:
        if step < WARMUP:
            return (step + 1) / WARMUP
        return 0.5 * (1 + math.cos(math.pi * (step - WARMUP) / max(1, STEPS - WARMUP)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    start = time.time()
    for step in range(STEPS):
        model.train()
        batch = train[torch.randint(0, len(train), (BATCH,))].to(device)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 500 == 0 or step == STEPS - 1:
            model.eval()
            with torch.no_grad():
                rows = dev[: 4 * BATCH].to(device)
                dev_loss = model(input_ids=rows, labels=rows).loss.item()
            print(f"step {step}: train loss {loss.item():.3f}, dev loss {dev_loss:.3f} "
                  f"({time.time() - start:.0f} s)")  # fmt: skip
    model.eval()
    model.save_pretrained(OUTPUT)
    tokenizer.save_pretrained(OUTPUT)
    print(f"saved the model in {OUTPUT}/")


if __name__ == "__main__":
    main()
