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
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DataError, PrerequisiteError
from .taskspec import FILE_SOURCES, DataFile, TaskSpec

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


def _digests(path: Path, kinds: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file (hashlib names, e.g. sha256, md5), in one pass over it."""
    hashes = {kind: hashlib.new(kind) for kind in kinds}
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            for h in hashes.values():
                h.update(chunk)
    return {kind: h.hexdigest() for kind, h in hashes.items()}


def _sha256(path: Path) -> str:
    return _digests(path)["sha256"]


def _write_manifest(
    task: TaskSpec, mode: str, root: Path, sources: dict[str, Any] | None = None
) -> None:
    files = {}
    for path in sorted(
        p for p in root.rglob("*") if p.is_file() and p.name not in (MANIFEST, HASH_CACHE)
    ):
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
        "sources": sources or {},  # the source's files the data was made from, with checksums
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


HASH_CACHE = ".hash-cache.json"  # rel -> [inode, mtime_ns, ctime_ns, size, sha256]
_hash_cache: dict[str, tuple[int, int, int, int, str]] = {}  # this process's, by absolute path


def _cached_sha256(path: str, st: os.stat_result, disk: dict[str, list[Any]], rel: str) -> str:
    """The file's sha256, rehashed only when its (inode, mtime, ctime, size) changed.

    Looked up in this process's cache, then in the dataset's cache file (``disk``, updated in
    place); a file rewritten in place gets a new ctime (which no user can set back), so its
    hash is recomputed.
    """
    sig = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    known = _hash_cache.get(path)
    if known is not None and known[:4] == sig:
        return known[4]
    entry = disk.get(rel)
    if isinstance(entry, list) and len(entry) == 5 and tuple(entry[:4]) == sig:
        digest = str(entry[4])
    else:
        digest = _sha256(Path(path))
        disk[rel] = [*sig, digest]
    _hash_cache[path] = (*sig, digest)
    return digest


def check_answer_key(answers: Path) -> None:
    """Check a prepared dataset's answer folder (``<dataset>/private``) against its manifest.

    Every file under it must be listed in ``<dataset>/MANIFEST.json`` with the same size and
    sha256; hashes are cached by (inode, mtime_ns, ctime_ns, size), in this process and in
    ``<dataset>/.hash-cache.json`` when the dataset is writable, so repeat checks only stat.
    Raises DataError naming the file and ``mlab-hpc prepare --verify``. A folder outside a
    prepared dataset (no MANIFEST.json beside it) is not checked.
    """
    root = answers.parent
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        return
    fix = f"run `mlab-hpc prepare --tasks <task> --verify` on {root}, or prepare it again"
    try:
        files = json.loads(manifest_path.read_text())["files"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{manifest_path}: unreadable manifest ({exc}); {fix}") from None
    cache_path = root / HASH_CACHE
    try:
        disk: dict[str, list[Any]] = json.loads(cache_path.read_text())
        if not isinstance(disk, dict):
            disk = {}
    except (OSError, ValueError):
        disk = {}
    before = dict(disk)
    present = set()
    base = str(root) + os.sep
    for folder, dirs, names in os.walk(answers):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            rel = path[len(base) :].replace(os.sep, "/")
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                raise DataError(f"{path}: not a regular file in the answer key; {fix}")
            present.add(rel)
            meta = files.get(rel)
            if meta is None:
                raise DataError(f"{path}: not in {manifest_path} (added after preparing); {fix}")
            if st.st_size != meta.get("size") or _cached_sha256(path, st, disk, rel) != meta.get(
                "sha256"
            ):
                raise DataError(
                    f"{path}: content differs from {manifest_path} (sha256 or size); the "
                    f"answer key was changed after preparing: {fix}"
                )
    prefix = answers.relative_to(root).as_posix() + "/"
    missing = sorted(rel for rel in files if rel.startswith(prefix) and rel not in present)
    if missing:
        raise DataError(f"{root / missing[0]}: missing from the answer key; {fix}")
    if disk != before:
        tmp = root / f"{HASH_CACHE}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps(disk))
            tmp.replace(cache_path)
        except OSError:  # a read-only dataset: this process's cache still serves
            tmp.unlink(missing_ok=True)


def _run_prepare_script(task: TaskSpec, args: list[str], out: Path) -> None:
    cmd = [sys.executable, str(task.prepare_script), *args, "--out", str(out)]
    env = {**os.environ, **task.script_env()}  # the form's id and [params] (task.toml)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=out, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise DataError(
            f"{task.id}: {task.prepare_script} failed (exit {proc.returncode}):\n{tail}"
        )


def prepare(
    task: TaskSpec,
    mode: str,
    data_root: Path,
    *,
    from_dir: Path | None = None,
    force: bool = False,
    check_sources: bool = True,
) -> PreparedData:
    """Prepare a task's data once; a no-op when it is already there and verifies.

    ``mode="generated"`` makes the task's small synthetic dataset (offline). ``mode="real"``
    downloads from the task's source and makes the published split. ``from_dir`` (air-gapped
    sites) is either a dataset prepared elsewhere (it holds a MANIFEST.json: copied and
    verified file by file) or the source's files as they were downloaded (the split is made
    here). ``check_sources=False`` skips the pinned checksums of the source's files, for tests
    that lay out a miniature of the source.
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
        if from_dir is not None and (from_dir / MANIFEST).is_file():
            _import_prepared(task, mode, from_dir, scratch)
        else:
            _make(task, mode, scratch, from_dir, check_sources)
        if final.exists() and not force and not verify(final, full=False):
            return PreparedData(final, mode)  # a concurrent preparation finished first
        if final.exists():
            shutil.rmtree(final)
        scratch.rename(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return PreparedData(final, mode)


def _make(
    task: TaskSpec, mode: str, scratch: Path, from_dir: Path | None, check_sources: bool
) -> None:
    """Run the task's prepare.py into ``scratch`` and write the manifest."""
    sources: dict[str, Any] = {}
    if mode == "generated":
        _run_prepare_script(task, ["--generated"], scratch)
    else:
        raw = scratch / "raw"
        raw.mkdir()
        if from_dir is not None:
            shutil.copytree(from_dir, raw, dirs_exist_ok=True)
            sources = _check_local_sources(task, raw, from_dir, check_sources)
        else:
            sources = download(task, raw)
        _run_prepare_script(task, ["--raw", str(raw)], scratch)
        shutil.rmtree(raw)
    for sub in ("public", "private"):
        (scratch / sub).mkdir(exist_ok=True)
    _write_manifest(task, mode, scratch, sources)


def _import_prepared(task: TaskSpec, mode: str, from_dir: Path, scratch: Path) -> None:
    """Copy a dataset prepared elsewhere; it must be this task's and verify in full."""
    manifest = json.loads((from_dir / MANIFEST).read_text())
    want = (task.id, str(task.version), mode)
    have = (manifest.get("task"), str(manifest.get("version")), manifest.get("mode"))
    if have != want:
        raise DataError(
            f"{from_dir / MANIFEST}: holds task {have[0]} v{have[1]} ({have[2]} data), "
            f"not {want[0]} v{want[1]} ({want[2]}): point --from at the right folder"
        )
    problems = verify(from_dir, full=True)
    if problems:
        raise DataError(f"--from {from_dir} does not verify: {problems[0]}")
    shutil.copytree(from_dir, scratch, dirs_exist_ok=True)


def _check_local_sources(task: TaskSpec, raw: Path, from_dir: Path, check: bool) -> dict[str, Any]:
    """The source's files brought with --from: present, and matching their pinned checksums."""
    sources: dict[str, Any] = {}
    for f in task.data.files:
        path = raw / f.path
        if not path.is_file():
            raise DataError(
                f"{from_dir} has no {f.path} (the file {f.url} delivers): put the "
                "downloaded files there unchanged, archives unpacked by nobody"
            )
        sources[f.path] = _check_file(f, path, check)
    return sources


def _check_file(f: DataFile, path: Path, check: bool) -> dict[str, Any]:
    """Verify one source file against its pinned checksums; its record for the manifest."""
    digests = _digests(path, ("sha256", "md5") if check and f.md5 else ("sha256",))
    for kind in ("sha256", "md5") if check else ():
        want = getattr(f, kind)
        if want and digests[kind] != want:
            raise DataError(
                f"{f.path} (from {f.url}): {kind} is {digests[kind]}, task.toml pins "
                f"{want}: the file is corrupt or the source changed; download it again"
            )
    return _source_record(f, digests["sha256"], checked=check)


def _source_record(f: DataFile, sha256: str, *, checked: bool) -> dict[str, Any]:
    """What the manifest says of one source file (with a warning when nothing is pinned)."""
    pinned = bool(f.sha256 or f.md5)
    if not pinned:
        log.warning(
            '%s has no pinned checksum in task.toml; pin it with sha256 = "%s"', f.path, sha256
        )
    return {"url": f.url, "sha256": sha256, "pinned": pinned, "checked": checked}


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
def download(task: TaskSpec, raw: Path) -> dict[str, Any]:
    """Fetch the task's source files into ``raw`` exactly as the source delivers them.

    Returns what the manifest records of them (url, sha256). Kaggle competitions come through
    the kaggle client (its zips unpacked); every other source is the list of files its own
    client fetches (torchvision, the Hugging Face Hub, OGB, plain URLs), fetched over HTTPS
    with their checksums checked, so a login node needs no client library but kaggle's.
    """
    source = task.data.source
    if source == "kaggle":
        _download_kaggle(str(task.data.options.get("competition", "")), raw)
        return {}
    if source in FILE_SOURCES:
        sources = {}
        for number, f in enumerate(task.data.files, start=1):
            log.info("%s: file %d of %d: %s", task.id, number, len(task.data.files), f.url)
            sha256 = fetch_url(f.url, raw / f.path, sha256=f.sha256, md5=f.md5)
            sources[f.path] = _source_record(f, sha256, checked=bool(f.sha256 or f.md5))
        return sources
    raise PrerequisiteError(f"task {task.id}: data.source {source!r} has nothing to download")


MIRROR_ENV = "MLAB_DOWNLOAD_MIRROR"
OFFLINE_HINT = (
    "no internet here? prepare on a machine that has it and bring the result with "
    "`mlab-hpc prepare --from DIR`, point MLAB_DOWNLOAD_MIRROR at your site's mirror, or run "
    "offline with `--data generated`"
)
RETRIES = 4
BACKOFF_S = 2.0  # the first wait; doubled after each failure, at most 30 s


def mirrored(url: str) -> str:
    """``url`` through the site's mirror, when $MLAB_DOWNLOAD_MIRROR is set.

    With MLAB_DOWNLOAD_MIRROR=http://mirror.example/data, https://host/a/b.zip is fetched from
    http://mirror.example/data/host/a/b.zip (a proxy cache, or a folder served over HTTP).
    """
    mirror = os.environ.get(MIRROR_ENV, "").rstrip("/")
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{mirror}/{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def fetch_url(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    timeout_s: float = 60.0,
) -> str:
    """Download ``url`` to ``dest`` (through a ``.part`` file), checking any checksum given.

    Transient failures (connection errors, time-outs, HTTP 5xx and 429) are retried with
    backoff; other HTTP errors and checksum mismatches fail at once with the URL in the
    message. Progress goes to the log every 10 seconds. An existing ``dest`` whose pinned
    checksums match is kept. The file is hashed while it streams in; returns its sha256.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    pins = {"sha256": sha256, "md5": md5}
    if dest.is_file() and (sha256 or md5):
        digests = _digests(dest, ("sha256", "md5"))
        if all(want in (None, digests[kind]) for kind, want in pins.items()):
            return digests["sha256"]
    source = mirrored(url)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, RETRIES + 1):
        try:
            digests = _fetch_once(source, part, timeout_s)
            break
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code != 429:
                part.unlink(missing_ok=True)
                raise DataError(
                    f"download of {source} failed: HTTP {exc.code} {exc.reason}"
                ) from None
            problem = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            problem = str(getattr(exc, "reason", exc))
        if attempt == RETRIES:
            part.unlink(missing_ok=True)
            raise DataError(
                f"download of {source} failed after {RETRIES} attempts: {problem}. "
                + OFFLINE_HINT
            )
        wait = min(BACKOFF_S * 2 ** (attempt - 1), 30.0)
        log.warning("download of %s: %s; retrying in %.0f s", source, problem, wait)
        time.sleep(wait)
    for kind, want in pins.items():
        if want and digests[kind] != want:
            part.unlink()
            raise DataError(
                f"download of {source}: {kind} {digests[kind]} differs from the pinned {want}: "
                "the file is corrupt or the source changed"
            )
    part.replace(dest)
    return digests["sha256"]


def _fetch_once(url: str, part: Path, timeout_s: float) -> dict[str, str]:
    """Stream ``url`` into ``part``; the sha256 and md5 of what arrived."""
    hashes = {kind: hashlib.new(kind) for kind in ("sha256", "md5")}
    request = urllib.request.Request(url, headers={"User-Agent": "mlab-hpc"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response, part.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done, last = 0, time.monotonic()
        while chunk := response.read(1 << 20):
            out.write(chunk)
            for h in hashes.values():
                h.update(chunk)
            done += len(chunk)
            if time.monotonic() - last > 10:
                last = time.monotonic()
                share = f" of {total / 1e6:.0f} MB" if total else ""
                log.info("%s: %.0f MB%s", url, done / 1e6, share)
        if total and done != total:
            raise OSError(f"connection closed after {done} of {total} bytes")
    return {kind: h.hexdigest() for kind, h in hashes.items()}


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
        raise DataError(
            f"Kaggle download of '{competition}' failed: {text}. " + OFFLINE_HINT
        ) from None
    for archive in raw.glob("*.zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(raw)
        archive.unlink()
