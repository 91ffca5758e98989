"""The nlp family's lm-eval package (containers/lm-eval.nix, added by containers/overlay.nix)
evaluates against stand-ins for nixpkgs, at the version pyproject.toml's "mlrb" extra pins,
and every ML Research Benchmark task runs in that family."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from mlab_hpc.taskspec import get_task

REPO = Path(__file__).resolve().parent.parent


def nix_eval(expr: str) -> object:
    exe = shutil.which("nix-instantiate")
    if exe is None:
        pytest.fail("nix-instantiate is not installed: apt-get install nix-bin")
    proc = subprocess.run(
        [exe, "--eval", "--strict", "--json", "-E", expr], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def pinned_lm_eval() -> str:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    (pin,) = [r for r in extras["mlrb"] if r.startswith("lm_eval")]
    match = re.fullmatch(r"lm_eval\[hf\]==([0-9.]+)", pin)
    assert match, pin
    return match.group(1)


def test_the_package_is_the_pinned_version_with_the_hf_backend() -> None:
    names = ["setuptools", "datasets", "dill", "evaluate", "jinja2", "jsonlines",
             "more-itertools", "numpy", "pytablewriter", "rouge-score", "sacrebleu",
             "scikit-learn", "sqlitedict", "tqdm", "typing-extensions", "zstandard",
             "accelerate", "peft", "torch", "transformers"]  # fmt: skip
    args = " ".join(f'"{n}" = "{n}";' for n in names)
    package = nix_eval(f"""
      import {REPO}/containers/lm-eval.nix ({{
        lib = {{ fakeHash = "sha256-fake"; licenses.mit = "mit"; }};
        buildPythonPackage = attrs: {{ inherit (attrs) pname version dependencies src; }};
        fetchPypi = a: a;
      }} // {{ {args} }})
    """)  # fmt: skip

    assert isinstance(package, dict)
    assert (package["pname"], package["version"]) == ("lm_eval", pinned_lm_eval())
    assert package["src"]["version"] == pinned_lm_eval()
    assert {"transformers", "torch", "accelerate", "peft", "datasets"} <= set(
        package["dependencies"]
    )


def test_the_overlay_adds_lm_eval_to_every_python_package_set() -> None:
    names = nix_eval(f"""
      let
        overlay = import {REPO}/containers/overlay.nix;
        added = overlay {{ }} {{ pythonPackagesExtensions = [ ]; }};
        extension = builtins.head added.pythonPackagesExtensions;
        set = extension {{ callPackage = path: args: toString path; }} {{ }};
      in set
    """)

    assert names == {"lm-eval": str(REPO / "containers" / "lm-eval.nix")}


def test_every_mlrb_task_runs_in_the_nlp_family_which_has_lm_eval() -> None:
    bases = ["llm-efficiency", "baby-lm", "minipile", "llm-merging", "edge-llm-compression",
             "edge-llm-training"]  # fmt: skip
    tasks = [get_task(t) for base in bases for t in (base, f"mini-{base}")]
    assert all("mlab_model_eval" in t.eval_script.read_text() for t in tasks)
    assert {t.environment for t in tasks} == {"nlp"}
    assert '"lm-eval"' in (REPO / "containers" / "nlp.nix").read_text()
    flake = (REPO / "flake.nix").read_text()
    assert "overlays = [ (import ./containers/overlay.nix) ]" in flake
