"""Greedy text generation with a Llama-architecture causal language model, timed.

The model is in model/ (config.json and *.safetensors, as published on the Hugging Face Hub);
the prompts are in prompts.npy, one row of token ids per prompt (CONTEXT_LENGTH ids each,
already tokenized). The script loads the model, continues every prompt by GENERATION_LENGTH
tokens, always taking the most likely next token (greedy decoding), in batches of BATCH_SIZE
prompts, times the generation, writes the new tokens to generated.npy and prints the speed.

The grader uses the two functions

    load_model(model_dir, device) -> model
    generate(model, prompt_ids, max_new_tokens) -> new token ids, one row per prompt

and times `generate` itself. Everything here is plain PyTorch: a small reader of the
safetensors format and a compact implementation of the Llama architecture (RMSNorm, rotary
position embeddings, grouped-query attention, SwiGLU feed-forward).
"""

from __future__ import annotations

import json
import mmap
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

#### DO NOT EDIT: the benchmark's settings, also used by the grader ####
CONTEXT_LENGTH = 128  # tokens per prompt
GENERATION_LENGTH = 16  # new tokens per prompt
BATCH_SIZE = 4  # prompts per call of generate
NUM_BATCHES = 10  # batches timed by this script
########################################################################

MODEL_DIR = "model"
PROMPTS = "prompts.npy"
OUTPUT = "generated.npy"

# --- reading safetensors files ------------------------------------------------------------

SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of one .safetensors file, as CPU tensors backed by a memory map.

    The format: an 8-byte little-endian header length, a JSON header mapping each tensor name
    to its dtype, shape and byte range (data_offsets, relative to the end of the header), then
    the raw little-endian tensor bytes.
    """
    with open(path, "rb") as file:
        header_length = int.from_bytes(file.read(8), "little")
        header = json.loads(file.read(header_length))
        # ACCESS_COPY: a private, writable view (torch wants writable buffers); nothing is
        # ever written back to the file.
        buffer = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)
    start = 8 + header_length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = (end - begin) // torch.empty((), dtype=dtype).element_size()
        flat = torch.frombuffer(buffer, dtype=dtype, count=count, offset=start + begin)
        tensors[name] = flat.reshape(info["shape"])
    return tensors


# --- the model -------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """Scale each vector by the inverse of its root mean square, then by a learned weight."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) over the two halves of the last dimension."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotary_tables(
    positions: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the rotary embedding for `positions`, shape (T, head_dim)."""
    exponents = torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim
    inverse_frequencies = 1.0 / (theta**exponents)
    angles = positions.float()[:, None] * inverse_frequencies[None, :]
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


class Attention(nn.Module):
    """Causal multi-head self-attention with rotary positions; fewer key/value heads allowed."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        dim = config["hidden_size"]
        self.n_heads = config["num_attention_heads"]
        self.n_kv_heads = config.get("num_key_value_heads") or self.n_heads
        self.head_dim = dim // self.n_heads
        self.theta = float(config.get("rope_theta", 10000.0))
        self.q_proj = nn.Linear(dim, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        q = self.q_proj(x).view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)

        positions = torch.arange(length, device=x.device)
        cos, sin = rotary_tables(positions, self.head_dim, self.theta, x.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin

        repeat = self.n_heads // self.n_kv_heads
        k = k.repeat_interleave(repeat, dim=1)
        v = v.repeat_interleave(repeat, dim=1)

        scores = (q @ k.transpose(-2, -1)) / self.head_dim**0.5
        future = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        out = (weights @ v).transpose(1, 2).reshape(batch, length, -1)
        return self.o_proj(out)


class FeedForward(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        dim, hidden = config["hidden_size"], config["intermediate_size"]
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    """One decoder layer: pre-norm attention and pre-norm feed-forward, each with a residual."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        eps = config.get("rms_norm_eps", 1e-6)
        self.input_layernorm = RMSNorm(config["hidden_size"], eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config["hidden_size"], eps)
        self.mlp = FeedForward(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    """Token embedding, the stack of layers and the final norm (the Hub's `model.` prefix)."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        shape = (config["vocab_size"], config["hidden_size"])
        # _weight: no random initialisation (the checkpoint's weights replace it)
        self.embed_tokens = nn.Embedding(*shape, _weight=torch.empty(shape))
        self.layers = nn.ModuleList(Block(config) for _ in range(config["num_hidden_layers"]))
        self.norm = RMSNorm(config["hidden_size"], config.get("rms_norm_eps", 1e-6))


class Llama(nn.Module):
    """A Llama causal language model; parameter names follow the Hub's checkpoints."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        self.config = config
        self.model = Decoder(config)
        self.lm_head = nn.Linear(config["hidden_size"], config["vocab_size"], bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits (batch, length, vocab) for token ids (batch, length)."""
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x)
        return self.lm_head(self.model.norm(x))


def load_model(model_dir: str | Path, device: str | torch.device) -> Llama:
    """The model of `model_dir` on `device`, in float32, ready for inference."""
    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    weights: dict[str, torch.Tensor] = {}
    for path in sorted(model_dir.glob("*.safetensors")):
        weights.update(read_safetensors(path))
    # Some checkpoints also store the rotary frequencies; they are recomputed here.
    weights = {name: t for name, t in weights.items() if "rotary_emb" not in name}
    if config.get("tie_word_embeddings") and "lm_head.weight" not in weights:
        weights["lm_head.weight"] = weights["model.embed_tokens.weight"]
    with torch.device("meta"):  # no memory and no random initialisation for the shapes
        model = Llama(config)
    weights = {name: t.to(device=device, dtype=torch.float32) for name, t in weights.items()}
    model.load_state_dict(weights, strict=True, assign=True)
    return model.eval()


# --- generation ------------------------------------------------------------------------------


@torch.no_grad()
def generate(model: Llama, prompt_ids: torch.Tensor, max_new_tokens: int) -> list[list[int]]:
    """Greedy continuation of each prompt: `max_new_tokens` new token ids per prompt.

    `prompt_ids` is an integer tensor (batch, prompt length); all prompts have the same
    length. At every step the whole sequence so far goes through the model again.
    """
    device = next(model.parameters()).device
    ids = torch.as_tensor(prompt_ids, dtype=torch.long).to(device)
    prompt_length = ids.shape[1]
    for _ in range(max_new_tokens):
        logits = model(ids)
        next_ids = logits[:, -1, :].argmax(dim=-1)
        ids = torch.cat([ids, next_ids[:, None]], dim=1)
    return ids[:, prompt_length:].tolist()


def main() -> None:
    """Generate for the first NUM_BATCHES batches of prompts.npy, time it, save the tokens."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(MODEL_DIR, device)
    prompts = torch.from_numpy(np.load(PROMPTS))[:, :CONTEXT_LENGTH]
    # MLAB_SMOKE=1 is set by the test harness only: one batch, to check that all runs.
    num_batches = 1 if os.environ.get("MLAB_SMOKE") == "1" else NUM_BATCHES

    generated = []
    total_time = 0.0
    for index in range(num_batches):
        batch = prompts[index * BATCH_SIZE : (index + 1) * BATCH_SIZE]
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        new_ids = generate(model, batch, GENERATION_LENGTH)
        if device == "cuda":
            torch.cuda.synchronize()
        total_time += time.perf_counter() - start
        generated.extend(new_ids)

    np.save(OUTPUT, np.asarray(generated, dtype=np.int64))
    n_tokens = len(generated) * GENERATION_LENGTH
    print(f"Generated {n_tokens} tokens for {len(generated)} prompts in {total_time:.3f} s")
    print(f"Tokens per second: {n_tokens / total_time:.2f}")
    print(f"Average per token generation time: {total_time / n_tokens:.6f} s")


if __name__ == "__main__":
    main()
