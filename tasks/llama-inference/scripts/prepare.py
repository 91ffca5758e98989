"""Data preparation for the llama-inference task.

    python scripts/prepare.py --raw RAW --out DIR      # RAW holds the model and wikitext files
    python scripts/prepare.py --generated --out DIR    # a tiny random model, offline

RAW, as task.toml's [[data.files]] lay it out:

    RAW/llama-7b/config.json, tokenizer.json, model.safetensors.index.json,
                 model-00001-of-00002.safetensors, model-00002-of-00002.safetensors
    RAW/wikitext-103-v1/test-00000-of-00001.parquet       (one column, "text")

The model's files go unchanged to DIR/public/model/ (what the agent's inference.py loads) and,
as hard links where the file system allows, to DIR/private/model/ (what the grader loads: it
never sees the agent's workspace data). The prompts are made as the published script made
them: every line of the wikitext-103 test split is tokenized (the beginning-of-sequence token,
then the text's tokens, with the `tokenizers` package and the model's tokenizer.json) and cut
to CONTEXT_LENGTH tokens; lines shorter than that are dropped. The first PUBLIC_PROMPTS
qualifying lines (the published evaluation set: 100 batches of 4) go to
DIR/public/prompts.npy, the next PRIVATE_PROMPTS to DIR/private/prompts.npy: the grader times
generation on prompts the agent has never seen, so outputs cannot be looked up.

--generated writes a tiny random Llama (2 layers, width 64, 4 query and 2 key/value heads,
vocabulary 256) as float16 safetensors with the same tensor names and config keys as the Hub's
checkpoints, and random prompts (40 public, 16 private: the grader's warm-up batch and 3 timed
batches). The output is byte-identical on every run.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main

CONTEXT_LENGTH = 128
PUBLIC_PROMPTS = 400  # the published script's 100 batches of 4
PRIVATE_PROMPTS = 44  # 11 batches of 4; the grader sends them in 3 rounds over 8 waves
GENERATED_PUBLIC_PROMPTS = 40  # the starter's 10 batches
GENERATED_PRIVATE_PROMPTS = 16  # 4 batches; the grader sends them in 8 rounds (1 per wave)
GENERATED_SEED = 20_230_705
MODEL_FOLDER = "llama-7b"
WIKITEXT_TEST = "wikitext-103-v1/test-00000-of-00001.parquet"
MODEL_FILES = ("config.json", "model.safetensors.index.json")  # plus every *.safetensors
REQUIRED_CONFIG = (
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "num_hidden_layers",
    "vocab_size",
)


# --- safetensors -------------------------------------------------------------------------------

NUMPY_TO_SAFETENSORS = {"float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32"}


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write `tensors` in the safetensors format: 8-byte length, JSON header, raw bytes.

    Tensors are stored in name order, little-endian, the header padded with spaces to a
    multiple of 8 bytes (as the reference writer does), so equal inputs give equal bytes.
    """
    header: dict[str, object] = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {
            "dtype": NUMPY_TO_SAFETENSORS[array.dtype.name],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        file.write(struct.pack("<Q", len(text)))
        file.write(text)
        for chunk in chunks:
            file.write(chunk)


def read_safetensors_header(path: Path) -> dict[str, dict]:
    """The JSON header of a safetensors file (tensor name -> dtype, shape, offsets)."""
    size = path.stat().st_size
    with path.open("rb") as file:
        prefix = file.read(8)
        if len(prefix) < 8:
            raise PrepareError(f"{path.name} is too short to be a safetensors file")
        length = struct.unpack("<Q", prefix)[0]
        if length > size - 8:
            raise PrepareError(f"{path.name}: header length {length} exceeds the file size")
        try:
            header = json.loads(file.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise PrepareError(f"{path.name}: the header is not JSON ({error})") from None
    header.pop("__metadata__", None)
    return header


# --- writing the prepared folders ---------------------------------------------------------------


def save_npy(path: Path, array: np.ndarray) -> None:
    """np.save to `path`, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (no second copy of a 13 GB model); copy if impossible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_model(files: Sequence[Path], out: Path) -> None:
    """The model's files to public/model/ and, linked, to private/model/."""
    for source in files:
        public = out / "public" / "model" / source.name
        link_or_copy(source, public)
        link_or_copy(public, out / "private" / "model" / source.name)


def write_prompts(prompts: np.ndarray, n_public: int, out: Path) -> None:
    """The first `n_public` prompts to public/prompts.npy, the rest to private/prompts.npy."""
    save_npy(out / "public" / "prompts.npy", prompts[:n_public])
    save_npy(out / "private" / "prompts.npy", prompts[n_public:])


# --- real data ------------------------------------------------------------------------------


def check_model(folder: Path) -> tuple[dict, list[Path]]:
    """The model's config and the files to publish; PrepareError if something is off."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise PrepareError(f"no {MODEL_FOLDER}/config.json in the raw folder")
    config = json.loads(config_path.read_text())
    missing = [key for key in REQUIRED_CONFIG if key not in config]
    if missing:
        raise PrepareError(f"config.json has no {', '.join(missing)}")
    shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        raise PrepareError(f"no .safetensors file in {MODEL_FOLDER}/")
    names: set[str] = set()
    for shard in shards:
        names.update(read_safetensors_header(shard))
    for needed in ("model.embed_tokens.weight", "model.norm.weight"):
        if needed not in names:
            raise PrepareError(f"the safetensors files hold no {needed}")
    layers = {name.split(".")[2] for name in names if name.startswith("model.layers.")}
    if len(layers) != config["num_hidden_layers"]:
        raise PrepareError(
            f"the safetensors files hold {len(layers)} layers, config.json says "
            f"{config['num_hidden_layers']}"
        )
    extra = [folder / name for name in MODEL_FILES if (folder / name).is_file()]
    return config, [*extra, *shards]


def read_texts(path: Path) -> list[str]:
    """The "text" column of the wikitext test split's parquet file."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise PrepareError(f"no {WIKITEXT_TEST} in the raw folder")
    table = pq.read_table(path)
    if "text" not in table.column_names:
        raise PrepareError(f"{WIKITEXT_TEST} has no text column")
    return [str(text) for text in table.column("text").to_pylist()]


def tokenize_prompts(tokenizer_path: Path, texts: list[str], bos_id: int, count: int) -> np.ndarray:
    """The first `count` texts that make CONTEXT_LENGTH tokens (BOS included), cut to that."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise PrepareError(
            "the tokenizers package is needed to tokenize the prompts: pip install tokenizers"
        ) from None
    if not tokenizer_path.is_file():
        raise PrepareError(f"no {MODEL_FOLDER}/tokenizer.json in the raw folder")
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    prompts = []
    for text in texts:
        ids = [bos_id, *tokenizer.encode(text, add_special_tokens=False).ids]
        if len(ids) >= CONTEXT_LENGTH:
            prompts.append(ids[:CONTEXT_LENGTH])
            if len(prompts) == count:
                return np.asarray(prompts, dtype=np.int64)
    raise PrepareError(
        f"only {len(prompts)} lines of the test split have {CONTEXT_LENGTH} tokens; "
        f"{count} are needed"
    )


def prepare_real(raw: Path, out: Path) -> None:
    """Model files to public/ and private/, tokenized wikitext prompts split between them."""
    folder = raw / MODEL_FOLDER
    config, files = check_model(folder)
    texts = read_texts(raw / WIKITEXT_TEST)
    bos_id = int(config.get("bos_token_id", 1))
    prompts = tokenize_prompts(
        folder / "tokenizer.json", texts, bos_id, PUBLIC_PROMPTS + PRIVATE_PROMPTS
    )
    if prompts.max() >= config["vocab_size"]:
        raise PrepareError("the tokenizer gives ids beyond the model's vocabulary")
    write_model(files, out)
    write_prompts(prompts, PUBLIC_PROMPTS, out)


# --- generated data ---------------------------------------------------------------------------

GENERATED_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 64,
    "intermediate_size": 172,
    "max_position_embeddings": 256,
    "model_type": "llama",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "float16",
    "vocab_size": 256,
}


def generated_weights(config: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random float16 weights with the Hub's names; logits spread over several units."""
    dim, hidden, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    head_dim = dim // config["num_attention_heads"]
    kv_dim = config["num_key_value_heads"] * head_dim

    def matrix(rows: int, cols: int, scale: float = 1.0) -> np.ndarray:
        return rng.normal(0.0, scale / np.sqrt(cols), size=(rows, cols))

    def norm() -> np.ndarray:
        return 1.0 + 0.1 * rng.normal(size=dim)

    weights = {"model.embed_tokens.weight": rng.normal(size=(vocab, dim))}
    for layer in range(config["num_hidden_layers"]):
        prefix = f"model.layers.{layer}."
        weights[prefix + "input_layernorm.weight"] = norm()
        weights[prefix + "self_attn.q_proj.weight"] = matrix(dim, dim, 2.0)
        weights[prefix + "self_attn.k_proj.weight"] = matrix(kv_dim, dim, 2.0)
        weights[prefix + "self_attn.v_proj.weight"] = matrix(kv_dim, dim)
        weights[prefix + "self_attn.o_proj.weight"] = matrix(dim, dim)
        weights[prefix + "post_attention_layernorm.weight"] = norm()
        weights[prefix + "mlp.gate_proj.weight"] = matrix(hidden, dim)
        weights[prefix + "mlp.up_proj.weight"] = matrix(hidden, dim)
        weights[prefix + "mlp.down_proj.weight"] = matrix(dim, hidden)
    weights["model.norm.weight"] = norm()
    weights["lm_head.weight"] = matrix(vocab, dim, 4.0)
    return {name: value.astype(np.float16) for name, value in weights.items()}


def prepare_generated(out: Path) -> None:
    """A tiny random model in the Hub's layout and random prompts (BOS first)."""
    rng = np.random.default_rng(GENERATED_SEED)
    config = GENERATED_CONFIG
    weights = generated_weights(config, rng)
    n_prompts = GENERATED_PUBLIC_PROMPTS + GENERATED_PRIVATE_PROMPTS
    prompts = rng.integers(3, config["vocab_size"], size=(n_prompts, CONTEXT_LENGTH))
    prompts[:, 0] = config["bos_token_id"]

    staging = out / "staging"
    staging.mkdir(parents=True)
    (staging / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    write_safetensors(staging / "model.safetensors", weights)
    write_model([staging / "config.json", staging / "model.safetensors"], out)
    shutil.rmtree(staging)
    write_prompts(prompts.astype(np.int64), GENERATED_PUBLIC_PROMPTS, out)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_real, generated=prepare_generated)
