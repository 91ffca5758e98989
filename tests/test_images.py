"""`mlab-hpc images list|verify|build` on small fake .sif files (they are only digested here)."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from click.testing import CliRunner

from mlab_hpc import images
from mlab_hpc.cli import main


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("MLAB_IMAGES", str(tmp_path))
    (tmp_path / "base.sif").write_bytes(b"base image bytes")
    (tmp_path / "rl.sif").write_bytes(b"rl image bytes")
    images.record(tmp_path, "base", "test")
    images.record(tmp_path, "rl", "test")
    return tmp_path


def test_digest_is_sha256_of_the_file(root):
    want = "sha256:" + hashlib.sha256(b"base image bytes").hexdigest()
    assert images.file_digest(root / "base.sif") == want
    assert json.loads((root / "manifest.json").read_text())["base"]["digest"] == want


def test_list_shows_path_presence_and_digest(root):
    code, out = invoke("images", "list")
    assert code == 0, out
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    assert set(rows) == set(images.FAMILIES)
    assert rows["base"][1:3] == ["ok", str(root / "base.sif")]
    assert rows["base"][3] == images.file_digest(root / "base.sif")
    assert rows["torch"][1] == "missing" and rows["torch"][3] == "-"


def test_list_for_tasks_picks_their_families(root):
    code, out = invoke("images", "list", "--tasks", "cartpole")
    assert code == 0, out
    assert [line.split("\t")[0] for line in out.splitlines()] == ["rl"]


def test_verify_passes_then_catches_a_changed_image(root):
    code, out = invoke("images", "verify")
    assert code == 0, out
    assert "base: ok" in out and "rl: ok" in out
    # same size, later mtime: the cache must not hide the change
    (root / "rl.sif").write_bytes(b"rl image BYTES")
    st = (root / "rl.sif").stat()
    os.utime(root / "rl.sif", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    code, out = invoke("images", "verify")
    assert code == 1
    assert "rl: changed" in out and "base: ok" in out


def test_verify_reports_missing_and_unrecorded(root):
    (root / "base.sif").unlink()
    (root / "jax.sif").write_bytes(b"never built here")
    code, out = invoke("images", "verify")
    assert code == 1
    assert "base: missing" in out and "jax: unrecorded" in out


def test_verify_with_no_images_says_so(tmp_path):
    code, out = invoke("images", "verify", "--images-dir", str(tmp_path))
    assert code == 1 and "no images in" in out


def test_build_without_tools_fails_in_one_line(root, monkeypatch):
    monkeypatch.setattr(images.shutil, "which", lambda name: None)
    code, out = invoke("images", "build", "--families", "base")
    assert code != 0
    assert out.strip().count("\n") == 0
    assert "nix and apptainer" in out


def test_unknown_family_is_refused(root):
    code, out = invoke("images", "list", "--families", "cuda")
    assert code != 0 and "unknown image family 'cuda'" in out


def test_build_commands(tmp_path):
    nix, apptainer = images.build_commands("torch", tmp_path)
    assert nix[:2] == ["nix", "build"] and nix[2].endswith("#torch-image")
    assert apptainer == [
        "apptainer",
        "build",
        "--force",
        str(tmp_path / "torch.sif"),
        f"docker-archive://{tmp_path / 'torch-image.tar.gz'}",
    ]
