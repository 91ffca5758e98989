"""Train a language model from scratch on the BabyLM 10M-word corpus (strict-small).

Reads every babylm_data/babylm_10M/*.train file, trains the byte-level LSTM of model.py for
one epoch, prints its perplexity per word and bits per byte on a sample of the lines of
babylm_data/babylm_dev/*.dev (computed as the grader computes them on the hidden test set),
then saves it in output/: weights.pt and a copy of model.py, the file the grader loads
(model_format.txt describes the format).

With MLAB_SMOKE=1 (quick tests of the harness only) a small model trains for a few batches.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from model import EOS_ID, ByteLSTM, LanguageModel
from torch import nn

DATA = Path("babylm_data")
OUTPUT = Path("output")
SMOKE = os.environ.get("MLAB_SMOKE") == "1"
SEED = int(os.environ.get("MLAB_SEED", "0"))

EPOCHS = 1
SEQ_LEN = 64 if SMOKE else 256
BATCH_SIZE = 16 if SMOKE else 64
MAX_STEPS = 150 if SMOKE else None  # None: the whole epoch (smoke: 125 on generated data)
MODEL = {"embedding": 32, "hidden": 128, "layers": 1} if SMOKE else {}  # {}: model.py's sizes
LEARNING_RATE = 3e-3 if SMOKE else 2e-3
DEV_LINES = 50 if SMOKE else 1000


def read_lines(folder: Path, suffix: str) -> list[str]:
    """The non-blank lines of every *.<suffix> file of `folder`, files in name order."""
    lines: list[str] = []
    for path in sorted(folder.glob(f"*.{suffix}")):
        text = path.read_text(encoding="utf-8")
        lines += [line for line in text.split("\n") if line.strip()]
    return lines


def byte_stream(lines: list[str]) -> torch.Tensor:
    """All lines as one id sequence: [EOS] line [EOS] line [EOS] ... (bytes 0-255, EOS 256)."""
    joined = ("\n" + "\n".join(lines) + "\n").encode("utf-8")
    ids = np.frombuffer(joined, dtype=np.uint8).astype(np.int64)
    ids[ids == ord("\n")] = EOS_ID  # no line holds a newline: each one marks a line end
    return torch.from_numpy(ids)


def batches(stream: torch.Tensor, generator: torch.Generator):
    """(inputs, targets) pairs of shape (BATCH_SIZE, SEQ_LEN) over one shuffled epoch."""
    starts = torch.arange(0, len(stream) - SEQ_LEN - 1, SEQ_LEN)
    starts = starts[torch.randperm(len(starts), generator=generator)]
    offsets = torch.arange(SEQ_LEN + 1)
    for first in range(0, len(starts), BATCH_SIZE):
        windows = stream[starts[first : first + BATCH_SIZE, None] + offsets]
        yield windows[:, :-1], windows[:, 1:]


def evaluate(lm: LanguageModel, lines: list[str]) -> tuple[float, float]:
    """Perplexity per whitespace-separated word and bits per byte, end of each line included."""
    total_log_prob, words, n_bytes = 0.0, 0, 0
    for line in lines:
        ids = lm.encode(line)
        log_probs = lm.log_probs(ids)
        targets = torch.tensor([*ids, lm.eos_id], device=log_probs.device)
        total_log_prob += float(log_probs.gather(1, targets[:, None]).sum())
        words += len(line.split())
        n_bytes += len(line.encode("utf-8")) + 1
    return math.exp(-total_log_prob / words), -total_log_prob / math.log(2) / n_bytes


def train(stream: torch.Tensor, device: torch.device) -> ByteLSTM:
    """One epoch (or MAX_STEPS batches) of next-byte prediction."""
    net = ByteLSTM(**MODEL).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE)
    loss_function = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    step, started = 0, time.time()
    for epoch in range(EPOCHS):
        for inputs, targets in batches(stream, generator):
            logits = net(inputs.to(device))
            loss = loss_function(logits.reshape(-1, logits.shape[-1]), targets.to(device).ravel())
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            step += 1
            if step % 100 == 0 or step == MAX_STEPS:
                bits, seconds = loss.item() / math.log(2), time.time() - started
                print(f"epoch {epoch + 1} step {step}: {bits:.3f} bits per byte, {seconds:.0f} s")
            if step == MAX_STEPS:
                return net
    return net


def main() -> None:
    """Train, validate on the development set, save the model to output/."""
    torch.manual_seed(SEED)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    stream = byte_stream(read_lines(DATA / "babylm_10M", "train"))
    print(f"Training on {len(stream):,} bytes on {device}")

    lm = LanguageModel(train(stream, device), device)

    dev_lines = read_lines(DATA / "babylm_dev", "dev")
    rng = np.random.default_rng(SEED)
    sample = [dev_lines[i] for i in sorted(rng.permutation(len(dev_lines))[:DEV_LINES])]
    perplexity, bits_per_byte = evaluate(lm, sample)
    print(f"Validation perplexity per word ({len(sample)} dev lines): {perplexity:.2f}")
    print(f"Validation bits per byte: {bits_per_byte:.4f}")

    lm.save(OUTPUT)
    shutil.copy("model.py", OUTPUT / "model.py")
    print(f"Saved the model to {OUTPUT}/")


if __name__ == "__main__":
    main()
