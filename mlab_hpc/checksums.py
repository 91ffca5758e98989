"""Record the sha256 of a task's downloads in ``tasks/<folder>/checksums.toml``.

No checksum of the ML Research Benchmark's downloads could be pinned where the tasks were
written (no internet). A site pins them from its first download: ``mlab-hpc prepare --tasks T
--record-checksums`` downloads and prepares as usual (the files must also pass the task's
prepare.py), then writes the sha256 of every file the form fetched, keyed by URL, into the
``[sha256]`` table of ``checksums.toml`` beside the task's task.toml. From then on the fetcher
checks every later download against them (taskspec.read_checksums fills the DataFile pins),
in both forms of the task. An entry already there is never changed: a different digest for the
same URL is an error (the source changed, or the first download was bad).
"""

from __future__ import annotations

import json
from pathlib import Path

from .data import MANIFEST, dataset_dir
from .errors import DataError
from .taskspec import CHECKSUMS_FILE, TaskSpec, read_checksums

HEADER = (
    "# sha256 of this task's downloads, keyed by URL (both forms), recorded from a first\n"
    '# download by `mlab-hpc prepare --record-checksums`; docs/task-format.md, "Forms".\n'
    "# Where the source publishes a checksum (Hugging Face shows one for every large file),\n"
    "# compare it with the line here before committing this file.\n"
)


def downloaded_sha256(task: TaskSpec, data_root: Path) -> dict[str, str]:
    """URL -> sha256 of the files the task's prepared real data was made from (its manifest's
    ``sources``). DataError when the real data is not prepared or records no sources."""
    manifest = dataset_dir(task, "real", data_root) / MANIFEST
    try:
        sources = json.loads(manifest.read_text())["sources"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"{task.id}: no prepared real data at {manifest.parent} ({exc}); run "
            f"mlab-hpc prepare --tasks {task.id} first"
        ) from None
    found = {entry["url"]: entry["sha256"] for entry in sources.values()}
    if not found:
        raise DataError(f"{task.id}: {manifest} lists no downloaded files to record")
    return found


def record(task: TaskSpec, data_root: Path) -> tuple[Path, list[str]]:
    """Merge the sha256 of the task's downloads into its checksums.toml; returns the file and
    the lines added (empty when every URL was recorded already).

    Raises DataError when a URL is recorded with another digest, or when task.toml pins a
    different one (the download check would have refused it first).
    """
    found = downloaded_sha256(task, data_root)
    path = task.root / CHECKSUMS_FILE
    known = read_checksums(task.root)
    pinned = {f.url: f.sha256 for f in task.data.files if f.sha256}
    for url, digest in sorted(found.items()):
        for where, table in ((str(path), known), (f"{task.root}/task.toml", pinned)):
            if table.get(url, digest) != digest:
                raise DataError(
                    f"{url}: downloaded with sha256 {digest}, but {where} says {table[url]}: "
                    "the source changed or one download was bad; find out which before pinning"
                )
    added = {url: digest for url, digest in found.items() if url not in known}
    merged = {**known, **added}
    lines = [f"{json.dumps(url)} = {json.dumps(digest)}" for url, digest in sorted(merged.items())]
    if added:
        text = HEADER + "\n[sha256]\n" + "".join(line + "\n" for line in lines)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    new = [f"{json.dumps(url)} = {json.dumps(digest)}" for url, digest in sorted(added.items())]
    return path, new
