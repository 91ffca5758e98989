"""Task data: preparation (login node, with internet), verification, and the offline check.

A prepared dataset lives in ``DATA_ROOT/<task>/v<version>/<mode>/`` (mode: ``real`` or
``generated``) with ``public/`` (copied into workspaces), ``private/`` (the answer key, for the
grader only) and ``MANIFEST.json`` (sha256 of every file). Preparation happens in a scratch
folder that is renamed into place only after the manifest is written, so a half-finished
preparation never looks finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError, PrerequisiteError
from .taskspec import TaskSpec

log = logging.getLogger(__name__)
MANIFEST = "MANIFEST.json"
MODES = ("real", "generated")


@dataclass(frozen=True)
class PreparedData:
    """A verified dataset of one task."""

    root: Path
    mode: str

    @property
    def public(self) -> Path:
        return self.root / "public"

    @property
    def private(self) -> Path:
        return self.root / "private"


def dataset_dir(task: TaskSpec, mode: str, data_root: Path) -> Path:
    return data_root / task.id / f"v{task.version}" / mode


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _write_manifest(task: TaskSpec, mode: str, root: Path) -> None:
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        files[path.relative_to(root).as_posix()] = {
            "sha256": _sha256(path),
            "size": path.stat().st_size,
        }
    manifest = {
        "task": task.id,
        "version": task.version,
        "mode": mode,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": files,
    }
    tmp = root / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    tmp.replace(root / MANIFEST)


def verify(root: Path, *, full: bool = True) -> list[str]:
    """Problems with a prepared dataset (empty list: it verifies).

    ``full=False`` checks presence and sizes only (fast, for every run); ``full=True`` also
    recomputes every sha256.
    """
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        return [f"{root}: no {MANIFEST} (not prepared, or preparation did not finish)"]
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError) as exc:
        return [f"{manifest_path}: unreadable manifest ({exc})"]
    problems = []
    for rel, meta in files.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != meta["size"]:
            problems.append(f"{path}: size {path.stat().st_size}, manifest says {meta['size']}")
        elif full and _sha256(path) != meta["sha256"]:
            problems.append(f"{path}: sha256 differs from the manifest")
    return problems


def _run_prepare_script(task: TaskSpec, args: list[str], out: Path) -> None:
    cmd = [sys.executable, str(task.prepare_script), *args, "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=out)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise DataError(
            f"{task.id}: {task.prepare_script} failed (exit {proc.returncode}):\n{tail}"
        )


def prepare(
    task: TaskSpec, mode: str, data_root: Path, *, from_dir: Path | None = None, force: bool = False
) -> PreparedData:
    """Prepare a task's data once; a no-op when it is already there and verifies.

    ``mode="generated"`` makes the task's small synthetic dataset (offline). ``mode="real"``
    downloads from the task's source (or takes the source's files from ``from_dir``, for
    air-gapped sites) and makes the published split.
    """
    if mode not in MODES:
        raise PrerequisiteError(f"unknown data mode {mode!r}; use one of {', '.join(MODES)}")
    if not task.data.needs_preparation:
        raise PrerequisiteError(f"task {task.id} has no data to prepare (data.source = 'none')")
    final = dataset_dir(task, mode, data_root)
    if final.exists() and not force and not verify(final, full=False):
        return PreparedData(final, mode)
    scratch = final.with_name(f".{mode}.partial-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        if mode == "generated":
            _run_prepare_script(task, ["--generated"], scratch)
        else:
            raw = scratch / "raw"
            raw.mkdir()
            if from_dir is not None:
                shutil.copytree(from_dir, raw, dirs_exist_ok=True)
            else:
                download(task, raw)
            _run_prepare_script(task, ["--raw", str(raw)], scratch)
            shutil.rmtree(raw)
        for sub in ("public", "private"):
            (scratch / sub).mkdir(exist_ok=True)
        _write_manifest(task, mode, scratch)
        if final.exists() and not force and not verify(final, full=False):
            return PreparedData(final, mode)  # a concurrent preparation finished first
        if final.exists():
            shutil.rmtree(final)
        scratch.rename(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return PreparedData(final, mode)


def resolve_data(task: TaskSpec, mode: str | None, data_root: Path) -> PreparedData | None:
    """The verified data a run uses, or None for tasks without data.

    Generated data is made on the spot (it is small and offline); real data must have been
    prepared on a login node, and its absence stops the run before the agent starts.
    """
    if not task.data.needs_preparation:
        return None
    mode = mode or "real"
    root = dataset_dir(task, mode, data_root)
    if mode == "generated":
        return prepare(task, "generated", data_root)
    problems = verify(root, full=False)
    if problems:
        raise DataError(
            f"task {task.id}: real data is not ready ({problems[0]}). On a login node with "
            f"internet run: mlab-hpc prepare --tasks {task.id} --data-root {data_root} "
            f"(or try the task offline with --data generated)"
        )
    return PreparedData(root, mode)


# --------------------------------------------------------------------------- downloads
def download(task: TaskSpec, raw: Path) -> None:
    """Fetch the task's source files into ``raw`` exactly as the source delivers them."""
    source = task.data.source
    if source == "kaggle":
        _download_kaggle(str(task.data.options.get("competition", "")), raw)
    else:
        raise PrerequisiteError(
            f"task {task.id}: downloading from {source!r} is not implemented "
            "yet; put the files in a folder and use --from DIR"
        )


def _download_kaggle(competition: str, raw: Path) -> None:
    if not competition:
        raise PrerequisiteError("data.competition is missing in the task's task.toml")
    # the kaggle package authenticates (and may print a banner) at import: keep it off stdout
    banner = io.StringIO()
    try:
        with contextlib.redirect_stdout(banner):
            from kaggle.api.kaggle_api_extended import KaggleApi  # type: ignore[import-not-found]

            api = KaggleApi()
            api.authenticate()
    except ImportError:
        raise PrerequisiteError(
            "the kaggle client is not installed: pip install 'mlab-hpc[kaggle]'"
        ) from None
    except (OSError, ValueError) as exc:
        raise PrerequisiteError(
            f"kaggle credentials missing or invalid ({exc}); put your API "
            "token in ~/.kaggle/kaggle.json (chmod 600) or set "
            "KAGGLE_USERNAME and KAGGLE_KEY"
        ) from None
    try:
        api.competition_download_files(competition, path=str(raw), quiet=True)
    except Exception as exc:  # the client raises its own HTTP error types
        text = str(exc)
        if "403" in text or "Forbidden" in text:
            raise PrerequisiteError(
                f"Kaggle refused the download of '{competition}': accept the competition's rules "
                f"once in a browser at https://www.kaggle.com/c/{competition}/rules, then rerun "
                "mlab-hpc prepare"
            ) from None
        raise DataError(f"Kaggle download of '{competition}' failed: {text}") from None
    for archive in raw.glob("*.zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(raw)
        archive.unlink()
