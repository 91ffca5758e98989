"""Merge the expert models in experts/ into one model and save it in output/.

Every expert has the same architecture and tokenizer. This first merge is a weighted average
of their parameters (WEIGHTS, one per expert in name order; equal by default), written with
save_pretrained together with the first expert's tokenizer. It takes seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

EXPERTS = sorted(path for path in Path("experts").iterdir() if (path / "config.json").is_file())
OUTPUT = Path("output")
WEIGHTS: list[float] | None = None  # None: the plain mean


def main() -> None:
    weights = WEIGHTS or [1.0 / len(EXPERTS)] * len(EXPERTS)
    print("merging", ", ".join(path.name for path in EXPERTS), "with weights", weights)
    merged = AutoModelForCausalLM.from_pretrained(EXPERTS[0], torch_dtype=torch.float32)
    states = [
        AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32).state_dict()
        for path in EXPERTS
    ]
    average = {
        name: sum(weight * state[name] for weight, state in zip(weights, states, strict=True))
        for name in states[0]
    }
    merged.load_state_dict(average)
    merged.save_pretrained(OUTPUT)
    AutoTokenizer.from_pretrained(EXPERTS[0]).save_pretrained(OUTPUT)
    print(f"saved the merged model in {OUTPUT}/")


if __name__ == "__main__":
    main()
