"""Fine-tune the base model (base_model/) to formalise problems in Lean 4; save it in output/.

Each training problem of data/train.jsonl becomes one text in the grader's prompt format,

    {header}{informal_prefix}{formal_statement}  sorry

followed by a blank line and the end-of-text token, so that the model learns to continue
"theorem <name>" with a statement, a placeholder proof, and then to stop. AdamW takes STEPS
steps on batches of these texts (padded, the padding masked out of the loss); the model and
its tokenizer are then saved with save_pretrained in output/ (the directory the grader
loads). Runs on a GPU when there is one. With MLAB_SMOKE=1 (quick tests of the harness only)
it takes two steps.
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
STEPS = 2 if SMOKE else 150
BATCH = 8
MAX_TOKENS = 512
LEARNING_RATE = 2e-5


def texts() -> list[str]:
    """The training problems as prompt + reference statement + placeholder proof."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    return [
        f"{r['header']}{r['informal_prefix']}{r['formal_statement'].rstrip()}\n  sorry\n\n"
        for r in rows
    ]


def main() -> None:
    torch.manual_seed(SEED)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(BASE).to(device)
    examples = [text + tokenizer.eos_token for text in texts()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    model.train()
    start = time.time()
    for step in range(STEPS):
        chosen = torch.randint(0, len(examples), (BATCH,)).tolist()
        batch = tokenizer(
            [examples[i] for i in chosen],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=MAX_TOKENS,
        ).to(device)
        labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 10 == 0 or step == STEPS - 1:
            print(f"step {step}: loss {loss.item():.4f} ({time.time() - start:.0f} s)")
    model.eval()
    model.save_pretrained(OUTPUT)
    tokenizer.save_pretrained(OUTPUT)
    print(f"saved the model in {OUTPUT}/")


if __name__ == "__main__":
    main()
