"""Fine-tune the approved base model (base_model/) on data/train.jsonl and save it in output/.

A plain causal-language-modelling loop: the texts are tokenised, packed into blocks of
BLOCK tokens, and AdamW takes STEPS steps over them; the model and its tokenizer are then
saved with save_pretrained in output/ (the directory the grader loads). Runs on a GPU when
there is one. With MLAB_SMOKE=1 (quick tests of the harness only) it takes two steps.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

BASE = Path("base_model")
DATA = Path("data") / "train.jsonl"
OUTPUT = Path("output")
SMOKE = os.environ.get("MLAB_SMOKE") == "1"
SEED = int(os.environ.get("MLAB_SEED", "0"))
STEPS = 2 if SMOKE else 200
BLOCK = 128
BATCH = 8
LEARNING_RATE = 1e-4


def blocks(tokenizer: AutoTokenizer) -> torch.Tensor:
    """The training texts as one stream of ids, cut into rows of BLOCK tokens."""
    ids: list[int] = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        ids += tokenizer(json.loads(line)["text"]).input_ids + [tokenizer.eos_token_id]
    rows = max(1, len(ids) // BLOCK)
    ids = (ids * (1 + rows * BLOCK // max(1, len(ids))))[: rows * BLOCK]
    return torch.tensor(ids).view(rows, BLOCK)


def main() -> None:
    torch.manual_seed(SEED)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    model = AutoModelForCausalLM.from_pretrained(BASE).to(device)
    data = blocks(tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    model.train()
    start = time.time()
    for step in range(STEPS):
        batch = data[torch.randint(0, len(data), (BATCH,))].to(device)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 20 == 0 or step == STEPS - 1:
            print(f"step {step}: loss {loss.item():.4f} ({time.time() - start:.0f} s)")
    model.eval()
    model.save_pretrained(OUTPUT)
    tokenizer.save_pretrained(OUTPUT)
    print(f"saved the model in {OUTPUT}/")


if __name__ == "__main__":
    main()
