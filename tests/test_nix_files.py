"""The Nix files parse, and the per-family definitions evaluate (against a stand-in nixpkgs).

nixpkgs cannot be fetched here, so building is not tested; `nix-instantiate --parse` (Debian:
nix-bin) checks the syntax of every .nix file, and each containers/<family>.nix is evaluated
with a small stand-in for nixpkgs that records which Python packages the family asks for.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mlab_hpc.taskspec import ENVIRONMENTS

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".venv", "node_modules", "results"}


def nix_instantiate() -> str:
    exe = shutil.which("nix-instantiate")
    if exe is None:
        pytest.fail(
            "nix-instantiate is not installed: apt-get install nix-bin (see .ci/apt-packages.txt)"
        )
    return exe


def nix_files() -> list[Path]:
    return sorted(
        p
        for p in REPO.rglob("*.nix")
        if not any(part in SKIP_DIRS or part.startswith(".") for part in p.relative_to(REPO).parts)
    )


def test_there_are_nix_files():
    names = {p.relative_to(REPO).as_posix() for p in nix_files()}
    assert "flake.nix" in names
    for family in ENVIRONMENTS:
        assert f"containers/{family}.nix" in names


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_parses(path):
    proc = subprocess.run(
        [nix_instantiate(), "--parse", str(path)], capture_output=True, text=True, timeout=60
    )
    # nix reports "error: ... at FILE:LINE:COL"
    assert proc.returncode == 0, proc.stderr.strip()


def evaluate(family: str, available: list[str]) -> subprocess.CompletedProcess[str]:
    """Evaluate containers/<family>.nix with a stand-in pkgs whose python3 has ``available``."""
    ps = " ".join(f'"{n}" = "{n}";' for n in available)
    expr = f"""
      let
        ps = {{ {ps} }};
        pkgs = {{ python3.withPackages = f: f ps; }};
      in import {REPO}/containers/{family}.nix {{ inherit pkgs; }}
    """
    return subprocess.run(
        [nix_instantiate(), "--eval", "--strict", "--json", "-E", expr],
        capture_output=True,
        text=True,
        timeout=60,
    )


def requested(family: str) -> set[str]:
    """Quoted names in a family's file and the shared base list (extras are harmless)."""
    text = (REPO / "containers" / f"{family}.nix").read_text()
    lib = (REPO / "containers" / "lib.nix").read_text()
    text += lib.split("basePackages =", 1)[1].split(";", 1)[0]
    return set(re.findall(r'"([a-z0-9][a-z0-9_-]*)"', text))


@pytest.mark.parametrize("family", ENVIRONMENTS)
def test_family_evaluates_to_its_packages(family):
    names = sorted(requested(family))
    proc = evaluate(family, names)
    assert proc.returncode == 0, proc.stderr
    packages = json.loads(proc.stdout)
    assert "numpy" in packages  # every family includes the base packages
    assert len(packages) == len(set(packages))


def test_missing_package_fails_with_its_name():
    proc = evaluate("torch", ["numpy"])
    assert proc.returncode != 0
    assert "nixpkgs has no python3Packages." in proc.stderr


def test_a_syntax_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.nix"
    bad.write_text("{ pkgs }:\n{ a = 1\n")
    proc = subprocess.run(
        [nix_instantiate(), "--parse", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert re.search(rf"{re.escape(str(bad))}:\d+:\d+", proc.stderr), proc.stderr
