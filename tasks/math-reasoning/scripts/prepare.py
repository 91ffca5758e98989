"""Data preparation for the math-reasoning task, both forms (Lean 4 autoformalisation).

    python scripts/prepare.py --raw RAW --out DIR      # RAW holds the [[data.files]] downloads
    python scripts/prepare.py --generated --out DIR    # a tiny model and tiny sets, offline

Layout written (both modes):

    DIR/public/base_model/          the approved base model (Hugging Face directory)
    DIR/public/data/train.jsonl     problems with their reference formalisations (miniF2F's
                                    schema: name, split, informal_prefix, formal_statement,
                                    goal, header), for training and few-shot prompts
    DIR/private/problems.jsonl      the graded problems, same schema (the answer key)
    DIR/private/lean.json           the Lean 4 toolchain the grader compiles with, or none

Real mode: the base model's files are copied from RAW/base_model/; the problems are miniF2F's
Lean 4 port as DeepSeek-Prover-V1.5 publishes it (datasets/minif2f.jsonl, pinned by commit
and sha256 in task.toml): its 244 "valid" problems are the public training set, its 244
"test" problems the graded set. --generated writes a random-initialised 2-layer Llama with a
byte-level BPE tokenizer trained on toy Lean statements, and problems of the same schema
(the same for both forms); the output is byte-identical on every run.

lean.json: compiling needs a Lean 4 toolchain and a Lake project with Mathlib built, which
cannot be installed from PyPI or Debian. Give it with MLAB_LEAN_PROJECT=/path/to/project
(under /opt or /usr, where the grader's sandbox can read it); prepare.py then asks Lake for
the project's LEAN_PATH and the toolchain's `lean`, and records both. Without it lean.json
says "none" and why: generated data is then graded without compiling (compile_rate not
measured), and real data cannot be graded (the grader stops with the fix).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

try:
    from mlab_hpc.grader_lib import mlab_model_eval_data as data
    from mlab_hpc.grader_lib.mlab_prepare import PrepareError, prepare_main
except ModuleNotFoundError:
    sys.exit("prepare.py needs the mlab_hpc package (pip install -e .)")

SEED = 17
BASE_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
FIELDS = ("name", "split", "informal_prefix", "formal_statement", "goal", "header")
HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)
LEAN_PROJECT_ENV = "MLAB_LEAN_PROJECT"
GENERATED_TRAIN, GENERATED_TEST = 40, 8


def generated_problem(rng: np.random.Generator, index: int, split: str) -> dict[str, Any]:
    """One toy problem of miniF2F's schema: a linear equation and its Lean 4 statement."""
    kind = str(rng.choice(["algebra", "numbertheory"]))
    a, b = int(rng.integers(2, 9)), int(rng.integers(1, 50))
    x = int(rng.integers(1, 20))
    name = f"gen_{kind}_{split}_{index}"
    if kind == "algebra":
        ty = str(rng.choice(["ℝ", "ℚ", "ℤ"]))
        informal = f"/-- Solve ${a}x + {b} = {a * x + b}$ for $x$. Show that it is {x}.-/\n"
        hypothesis = f"(h₀ : {a} * x + {b} = {a * x + b})"
        statement = f"theorem {name} (x : {ty}) {hypothesis} : x = {x} := by\n"
        goal = f"x : {ty}\nh₀ : {a} * x + {b} = {a * x + b}\n⊢ x = {x}"
    else:
        informal = f"/-- What is the remainder when ${a * x + b}$ is divided by ${a}$? "
        informal += f"Show that it is {(a * x + b) % a}.-/\n"
        statement = f"theorem {name} : {a * x + b} % {a} = {(a * x + b) % a} := by\n"
        goal = f"⊢ {a * x + b} % {a} = {(a * x + b) % a}"
    return dict(zip(FIELDS, (name, split, informal, statement, goal, HEADER), strict=True))


def lean_record() -> dict[str, Any]:
    """What lean.json holds: the toolchain found through $MLAB_LEAN_PROJECT, or why none."""
    project = os.environ.get(LEAN_PROJECT_ENV)
    if not project:
        return {"lean": None, "why": f"{LEAN_PROJECT_ENV} was not set when the data was prepared"}
    root = Path(project).resolve()
    lake = shutil.which("lake") or str(Path(os.environ.get("ELAN_HOME", "~/.elan")).expanduser()
                                        / "bin" / "lake")  # fmt: skip
    try:
        printed = subprocess.run(
            [lake, "env", "sh", "-c", 'printf "%s\\n%s" "$LEAN_SYSROOT" "$LEAN_PATH"'],
            cwd=root, capture_output=True, text=True, timeout=600, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        raise PrepareError(f"`lake env` failed in {LEAN_PROJECT_ENV}={root}: {exc}") from exc
    sysroot, _, lean_path = printed.partition("\n")
    lean = Path(sysroot) / "bin" / "lean"
    if not lean.is_file():
        raise PrepareError(f"no lean binary at {lean} (LEAN_SYSROOT from `lake env` in {root})")
    return {"lean": str(lean), "lean_path": lean_path, "project": str(root)}


def write_key(out: Path, test: list[dict[str, Any]], generated: bool) -> None:
    """The answer key: the graded problems and the Lean toolchain record."""
    data.write_jsonl(out / "private" / "problems.jsonl", test)
    record = {"generated": generated, **lean_record()}
    (out / "private" / "lean.json").write_text(json.dumps(record, indent=2) + "\n")
    if record["lean"] is None and not generated:
        print(
            f"prepare.py: warning: no Lean toolchain ({record['why']}); the grader cannot "
            f"measure compile_rate on real data and will refuse to grade: see the task README",
            file=sys.stderr,
        )


def prepare_generated(out: Path) -> None:
    """The tiny offline form: a random tiny model and toy problems of miniF2F's schema."""
    rng = np.random.default_rng(SEED)
    train = [generated_problem(rng, i, "valid") for i in range(GENERATED_TRAIN)]
    test = [generated_problem(rng, i, "test") for i in range(GENERATED_TEST)]
    texts = [r["header"] + r["informal_prefix"] + r["formal_statement"] for r in train]
    data.tiny_model(out / "public" / "base_model", texts, vocab=512)
    data.write_jsonl(out / "public" / "data" / "train.jsonl", train)
    write_key(out, test, generated=True)


def prepare_raw(raw: Path, out: Path) -> None:
    """The real form from the downloaded files (see task.toml's [[data.files]])."""
    missing = [name for name in BASE_FILES if not (raw / "base_model" / name).is_file()]
    if missing:
        raise PrepareError(f"{raw}/base_model/{missing[0]} is missing; run prepare again")
    shutil.copytree(raw / "base_model", out / "public" / "base_model", dirs_exist_ok=True)
    source = raw / "minif2f.jsonl"
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line]
    odd = [r.get("name") for r in rows if set(FIELDS) - set(r)]
    if odd:
        raise PrepareError(f"{source}: problem {odd[0]} lacks fields of {FIELDS}")
    rows = [{key: r[key] for key in FIELDS} for r in rows]
    data.write_jsonl(out / "public" / "data" / "train.jsonl",
                     [r for r in rows if r["split"] == "valid"])  # fmt: skip
    write_key(out, [r for r in rows if r["split"] == "test"], generated=False)


if __name__ == "__main__":
    prepare_main(__doc__, from_raw=prepare_raw, generated=prepare_generated)
