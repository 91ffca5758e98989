"""What checking the answer key against MANIFEST.json adds to grading (target: < 50 ms).

    python benchmarks/answer_key_check.py [--files 20] [--mb 200] [--repeat 20]

Builds a prepared dataset in a temporary folder (``private/`` holding ``--files`` files of
``--mb`` MB in all, and a MANIFEST.json as `mlab-hpc prepare` writes it), then times
``mlab_hpc.data.check_answer_key``, which grading calls before the first graded snapshot of a
run and before grading the human reference:

- cold: no hash known (the first check after preparing: every file hashed);
- disk cache: a new process (this process's cache emptied), hashes read from .hash-cache.json;
- warm: the same process checks again (what every later call costs);
- after a same-size change: the changed file rehashed, the change refused.

The figure to compare with the target is the disk-cache one: the extra time per graded run
(and so at most per graded snapshot).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from mlab_hpc import data
from mlab_hpc.errors import DataError


def build(root: Path, files: int, total_mb: int) -> Path:
    """A dataset with ``files`` answer files of ``total_mb`` MB in all; returns private/."""
    private = root / "private"
    private.mkdir(parents=True)
    size = max(1, total_mb * (1 << 20) // files)
    listing = {}
    for i in range(files):
        path = private / f"part-{i:03d}.bin"
        payload = hashlib.sha256(str(i).encode()).digest() * (size // 32 + 1)
        path.write_bytes(payload[:size])
        listing[f"private/{path.name}"] = {
            "sha256": hashlib.sha256(payload[:size]).hexdigest(),
            "size": size,
        }
    (root / data.MANIFEST).write_text(json.dumps({"files": listing}))
    return private


def timed_ms(fn, repeat: int = 1) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        private = build(Path(tmp) / "dataset", args.files, args.mb)
        check = lambda: data.check_answer_key(private)  # noqa: E731
        cold = timed_ms(check)[0]
        disk = []
        for _ in range(args.repeat):
            data._hash_cache.clear()  # a new process: only the cache file helps
            disk += timed_ms(check)
        warm = timed_ms(check, args.repeat)
        victim = private / "part-000.bin"
        st = victim.stat()
        with victim.open("r+b") as fh:
            fh.write(b"\0")
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
        t0 = time.perf_counter()
        try:
            check()
            refused = "NOT refused"
        except DataError as exc:
            refused = f"refused: {str(exc)[:90]}..."
        changed = (time.perf_counter() - t0) * 1000
    print(f"answer key: {args.files} files, {args.mb} MB")
    print(f"cold (hash everything)             {cold:9.1f} ms")
    print(f"new process, from .hash-cache.json {statistics.median(disk):9.2f} ms (median)")
    print(f"same process again                 {statistics.median(warm):9.2f} ms (median)")
    print(f"same-size change, mtime put back   {changed:9.1f} ms, {refused}")
    ok = statistics.median(disk) < 50
    print(
        f"extra per graded snapshot (at most): {statistics.median(disk):.2f} ms "
        f"({'within' if ok else 'OVER'} the 50 ms target)"
    )


if __name__ == "__main__":
    main()
