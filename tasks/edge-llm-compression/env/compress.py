"""Compress the base model in base_model/ to fit the size cap, and save it in output/.

This first compression is the bluntest that fits: the weights are stored in half precision
(float16), then whole transformer blocks are dropped from the top until the parameters take
less than TARGET_BYTES, a little under the grader's cap on output/ (data/caps.json). No
quantisation is allowed (float16, bfloat16 and float32 only).
It takes seconds on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

BASE = Path("base_model")
OUTPUT = Path("output")
# the grader's cap on output/ (all files together), as the task states it
CAP_BYTES = json.loads(Path("data/caps.json").read_text())["max_bytes"]
TARGET_BYTES = int(0.97 * CAP_BYTES)  # room for the tokenizer and config files


def parameter_bytes(model: torch.nn.Module) -> int:
    """Bytes of the parameters (tied ones counted once, as save_pretrained stores them)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def main() -> None:
    model = AutoModelForCausalLM.from_pretrained(BASE, torch_dtype=torch.float32)
    model = model.to(torch.float16)
    layers = model.model.layers
    while parameter_bytes(model) > TARGET_BYTES and len(layers) > 1:
        del layers[len(layers) - 1]
    model.config.num_hidden_layers = len(layers)
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[: len(layers)]
    model.save_pretrained(OUTPUT)
    AutoTokenizer.from_pretrained(BASE).save_pretrained(OUTPUT)
    size = sum(path.stat().st_size for path in OUTPUT.iterdir())
    print(f"saved {len(layers)} blocks in float16 in {OUTPUT}/: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
