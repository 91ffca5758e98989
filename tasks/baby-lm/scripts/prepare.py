"""Data preparation for the baby-lm task (both forms: full and mini-baby-lm).

    python scripts/prepare.py --raw RAW --out DIR      # RAW holds the [[data.files]] downloads
    python scripts/prepare.py --generated --out DIR    # tiny sets of the same schemas, offline

Layout written (both modes):

    DIR/public/corpus/train/<domain>.txt    the training corpus (BabyLM strict-small, 10M words)
    DIR/public/corpus/dev/<domain>.txt      the development set of the same domains
    DIR/private/blimp_test.jsonl            BLiMP minimal pairs: sentence_good, sentence_bad, ...
    DIR/private/perplexity_test.jsonl       held-out BabyLM test lines, {"text": ...} a line

Real mode: babylm_data.zip (BabyLM 2023) gives babylm_10M/<domain>.train, babylm_dev/*.dev and
babylm_test/*.test, copied line for line; the BLiMP paradigms the form fetched (1,000 pairs
each, from the BLiMP repository's data/ folder; mini: 12, full: all 67) are concatenated in
name order; PERPLEXITY_LINES test lines are drawn with a fixed seed. --generated writes a toy
corpus of three domains, 60 minimal pairs and 20 test lines; the output is byte-identical on
every run."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np

try:
    from mlab_hpc.grader_lib import mlab_model_eval_data as data
    from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main
except ModuleNotFoundError:
    sys.exit("prepare.py needs the mlab_hpc package (pip install -e .)")

SEED = 23
PERPLEXITY_LINES = 1000
GENERATED_DOMAINS = ("aochildes", "simple_wikipedia", "switchboard")


def prepare_generated(out: Path) -> None:
    """Toy corpus, minimal pairs of BLiMP's schema, held-out lines."""
    for index, domain in enumerate(GENERATED_DOMAINS):
        for split, count in (("train", 120), ("dev", 20)):
            texts = data.corpus(SEED + 10 * index + len(split), count)
            path = out / "public" / "corpus" / split / f"{domain}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(line + "\n" for line in texts), encoding="utf-8")
    data.write_jsonl(out / "private" / "blimp_test.jsonl", data.blimp_rows(SEED + 1, 60))
    data.write_jsonl(
        out / "private" / "perplexity_test.jsonl", data.text_rows(data.corpus(SEED + 2, 20))
    )


def read_babylm(raw: Path) -> dict[str, dict[str, bytes]]:
    """{split suffix: {domain: file bytes}} of babylm_data.zip (or its unpacked folder)."""
    wanted = {"babylm_10M": "train", "babylm_dev": "dev", "babylm_test": "test"}
    found: dict[str, dict[str, bytes]] = {suffix: {} for suffix in wanted.values()}
    archive = raw / "babylm_data.zip"
    if not archive.is_file():
        raise PrepareError(f"{archive} is missing; run prepare again")
    with zipfile.ZipFile(archive) as zipped:
        for name in zipped.namelist():
            parts = name.split("/")
            if len(parts) >= 2 and parts[-2] in wanted and not name.startswith("__MACOSX"):
                suffix = wanted[parts[-2]]
                if parts[-1].endswith("." + suffix):
                    found[suffix][parts[-1].removesuffix("." + suffix)] = zipped.read(name)
    for suffix, files in found.items():
        if not files:
            raise PrepareError(f"no *.{suffix} files in {archive}")
    return found


def prepare_raw(raw: Path, out: Path) -> None:
    """The real form from the downloaded files (see task.toml's [[data.files]])."""
    babylm = read_babylm(raw)
    for split in ("train", "dev"):
        for domain, content in sorted(babylm[split].items()):
            path = out / "public" / "corpus" / split / f"{domain}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    test = [
        line
        for _, content in sorted(babylm["test"].items())
        for line in content.decode("utf-8").splitlines()
        if line.strip()
    ]
    chosen = np.sort(np.random.default_rng(SEED).choice(len(test), PERPLEXITY_LINES, False))
    data.write_jsonl(out / "private" / "perplexity_test.jsonl",
                     data.text_rows(test[i] for i in chosen))  # fmt: skip
    # the form's paradigms: every BLiMP file its [[data.files]] fetched (mini: 12, full: 67)
    paradigms = sorted((raw / "blimp").glob("*.jsonl"))
    if not paradigms:
        raise PrepareError(f"no BLiMP paradigm in {raw}/blimp; run prepare again")
    rows = []
    for path in paradigms:
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    data.write_jsonl(out / "private" / "blimp_test.jsonl", rows)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
