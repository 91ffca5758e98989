"""Container images, one per task family: where the .sif files live, their digests, the build.

An image is built in two steps: Nix builds a layered Docker archive from the flake
(`nix build .#<family>-image`), then Apptainer turns that archive into a .sif file
(`apptainer build <family>.sif docker-archive://...`). The digest of an image is the sha256 of
its .sif file; `manifest.json` beside the images records the digest each build produced, so
that `verify` can tell a file that changed since it was built.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import PrerequisiteError
from .taskspec import ENVIRONMENTS

FAMILIES: tuple[str, ...] = ENVIRONMENTS
MANIFEST = "manifest.json"
REPO_ROOT = Path(__file__).resolve().parent.parent


def images_dir() -> Path:
    """$MLAB_IMAGES, else the per-user cache ($XDG_CACHE_HOME or ~/.cache)/mlab-hpc/images."""
    env = os.environ.get("MLAB_IMAGES")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mlab-hpc" / "images"


def sif_path(family: str, root: Path | None = None) -> Path:
    """The .sif file of one task family."""
    if family not in FAMILIES:
        raise PrerequisiteError(f"unknown image family {family!r} (known: {', '.join(FAMILIES)})")
    return (root or images_dir()) / f"{family}.sif"


# (resolved path, size, mtime_ns) -> sha256: a .sif of several GiB is hashed once per change
_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file, cached while its size and modification time stay the same."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[key] = f"sha256:{h.hexdigest()}"
    return _DIGESTS[key]


def read_manifest(root: Path) -> dict[str, dict[str, Any]]:
    path = root / MANIFEST
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def record(root: Path, family: str, source: str) -> str:
    """Record the digest of a family's .sif in the manifest; returns it."""
    digest = file_digest(sif_path(family, root))
    manifest = read_manifest(root)
    manifest[family] = {"digest": digest, "source": source, "built_at": time.time()}
    tmp = root / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    tmp.replace(root / MANIFEST)
    return digest


@dataclass(frozen=True)
class ImageInfo:
    family: str
    path: Path
    present: bool
    digest: str | None  # of the file as it is now
    recorded: str | None  # in the manifest

    @property
    def status(self) -> str:
        if not self.present:
            return "missing"
        if self.recorded is None:
            return "unrecorded"
        return "ok" if self.digest == self.recorded else "changed"


def list_images(root: Path | None = None, families: tuple[str, ...] = FAMILIES) -> list[ImageInfo]:
    """Each family's .sif: where it is, whether it is there, its digest and the recorded one."""
    root = root or images_dir()
    manifest = read_manifest(root)
    rows = []
    for family in families:
        path = sif_path(family, root)
        present = path.is_file()
        rows.append(
            ImageInfo(
                family,
                path,
                present,
                file_digest(path) if present else None,
                manifest.get(family, {}).get("digest"),
            )
        )
    return rows


def verify(root: Path | None = None, families: tuple[str, ...] = FAMILIES) -> list[ImageInfo]:
    """Recompute every present image's digest (no cache) and compare it with the manifest."""
    _DIGESTS.clear()
    return [i for i in list_images(root, families) if i.present or i.recorded is not None]


def missing_tools() -> list[str]:
    """The tools `images build` needs that are not on PATH."""
    return [tool for tool in ("nix", "apptainer") if shutil.which(tool) is None]


def build_commands(family: str, root: Path, flake: Path = REPO_ROOT) -> list[list[str]]:
    """The two commands that build one family's image (pure)."""
    archive = root / f"{family}-image.tar.gz"
    return [
        ["nix", "build", f"{flake}#{family}-image", "--out-link", str(archive)],
        [
            "apptainer",
            "build",
            "--force",
            str(sif_path(family, root)),
            f"docker-archive://{archive}",
        ],
    ]


def build(families: tuple[str, ...], root: Path | None = None) -> list[ImageInfo]:
    """Build the images of ``families`` and record their digests."""
    missing = missing_tools()
    if missing:
        raise PrerequisiteError(
            f"images build needs {' and '.join(missing)}, not found on PATH "
            "(see docs/containers.md)"
        )
    root = root or images_dir()
    root.mkdir(parents=True, exist_ok=True)
    for family in families:
        for cmd in build_commands(family, root):
            proc = subprocess.run(cmd)
            if proc.returncode != 0:
                raise PrerequisiteError(
                    f"building the {family} image failed: {' '.join(cmd)} exited {proc.returncode}"
                )
        record(root, family, f"flake:{REPO_ROOT}#{family}-image")
    return list_images(root, families)
