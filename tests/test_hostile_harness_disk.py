"""Hostile agents and the results disk: a disk that fills up, files too big (or too sparse) to
snapshot. Real filesystems: a small tmpfs mounted as the results root (the tests skip, saying
why, where mounting is not permitted), real sparse files, the real CLI, Parquet and DuckDB.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlab_hpc.agents import AgentContext
from mlab_hpc.cli import main
from mlab_hpc.environment import ActionCall, StepRecord

from .agents_for_tests import GoodCartpoleAgent
from .conftest import REPO, cli, query, require_bwrap

pytestmark = pytest.mark.usefixtures("data_root")

HERE = "tests.test_hostile_harness_disk"


@pytest.fixture(autouse=True)
def _importable_agents(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def only_run(results: Path) -> Path:
    (run,) = list((results / "runs").iterdir())
    return run


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 24 MiB tmpfs mounted as the results root (MLAB_RESULTS); unmounted afterwards."""
    root = tmp_path / "small-disk"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(root)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    monkeypatch.setenv("MLAB_RESULTS", str(root))
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


class Scripted:
    script: list[ActionCall] = []

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        self._queue = list(self.script[len(history) :])

    def act(self, last: StepRecord | None) -> ActionCall:
        return self._queue.pop(0) if self._queue else ActionCall("Final Answer", {})


FILL = """\
import os
fd = os.open("big.bin", os.O_WRONLY | os.O_CREAT)
block = b"x" * (1 << 20)
try:
    while True:
        os.write(fd, block)
except OSError as exc:
    print("stopped:", exc.strerror)
"""


class DiskFillingAgent(Scripted):
    """Writes a note, then runs a script that writes until the disk is full."""

    script = [
        ActionCall("Write File", {"file_name": "notes.txt", "content": "one"}),
        ActionCall("Write File", {"file_name": "fill.py", "content": FILL}),
        ActionCall("Execute Script", {"script_name": "fill.py"}),
        ActionCall("List Files", {"dir_path": "."}),
    ]


# ------------------------------------------------------------------ a full disk
def test_full_results_disk_ends_the_run_in_one_line_and_keeps_its_steps(
    small_disk: Path,
) -> None:
    code, out = run_cli("run", "--task", "cartpole", "--sandbox", "process", "--agent",
                        f"{HERE}:DiskFillingAgent")
    assert code == 1, out
    assert "Traceback" not in out
    (line,) = [x for x in out.splitlines() if x.startswith("Error:")]
    assert str(small_disk) in line and "free" in line and "recover" in line, line
    run = only_run(small_disk)
    state = json.loads((run / "run.json").read_text())
    assert (state["status"], state["exit_reason"]) == ("ended", "disk_full")
    steps = [json.loads(x) for x in (run / "trace" / "steps.jsonl").read_text().splitlines()]
    assert [s["action"] for s in steps] == ["Write File", "Write File", "Execute Script"]
    assert steps[2]["error_kind"] == "disk_full", steps[2]
    assert "fill.py" in steps[2]["observation"]  # its own output had no room either
    assert "could not be stored" in steps[2]["observation"]
    assert not list((run / "snapshots").rglob("*.tmp")), "no partial blob is left behind"

    (run / "workspace" / "big.bin").unlink()  # the fix the error names: free space, recover
    cli("recover", run.name)
    (row,) = query(small_disk, "SELECT status, exit_reason, n_steps, final_valid FROM runs")
    assert row == ("failed", "disk_full", 3, True)
    assert len(query(small_disk, "SELECT step FROM steps")) == 3
    assert not (run / "trace" / ".space-reserve").exists()


SPARSE = """\
import os
with open("sparse.bin", "wb") as fh:
    fh.write(b"head")
os.truncate("sparse.bin", 5 << 30)
with open("sparse.bin", "r+b") as fh:
    fh.seek(3 << 30)
    fh.write(b"middle")
print(os.stat("sparse.bin").st_size)
"""


class SparseFileAgent(Scripted):
    """Makes a 5 GiB sparse file, copies it, writes a good policy, and deletes nothing."""

    script = [
        ActionCall("Write File", {"file_name": "sparse.py", "content": SPARSE}),
        ActionCall("Execute Script", {"script_name": "sparse.py"}),
        ActionCall("Copy File", {"source": "sparse.bin", "destination": "copy.bin"}),
        *GoodCartpoleAgent.script,
    ]


def allocated(folder: Path) -> int:
    """Bytes of disk the files under ``folder`` use (blocks, not apparent sizes)."""
    return sum(p.lstat().st_blocks * 512 for p in folder.rglob("*"))


# ------------------------------------------------------------------ sparse and huge files
def test_a_5gib_sparse_file_is_snapshotted_and_restored_sparsely(small_disk: Path) -> None:
    """On a 24 MiB results disk: storing the file at its apparent size could never fit."""
    require_bwrap()
    cli("run", "--task", "cartpole", "--sandbox", "bwrap", "--agent", f"{HERE}:SparseFileAgent")
    (row,) = query(small_disk, "SELECT status, n_steps, final_valid, final_score FROM runs")
    assert row[:3] == ("completed", 5, True)
    assert row[3] > 150, "the grader saw the good policy"
    run = only_run(small_disk)
    assert allocated(run / "snapshots") < 4 << 20
    assert (run / "workspace" / "copy.bin").stat().st_size == 5 << 30
    assert allocated(run / "workspace") < 4 << 20, "Copy File keeps the holes"

    from mlab_hpc.snapshots import SnapshotStore
    from mlab_hpc.workspace import Workspace

    store = SnapshotStore(run / "snapshots", Workspace(run / "workspace", []))
    out = small_disk / "materialized"
    store.materialize(store.current_id, out)
    store.close()
    data = out / "sparse.bin"
    assert data.stat().st_size == 5 << 30 and allocated(out) < 4 << 20
    with data.open("rb") as fh:
        assert fh.read(4) == b"head"
        fh.seek(3 << 30)
        assert fh.read(6) == b"middle"
        fh.seek((3 << 30) - 4)
        assert fh.read(4) == b"\0\0\0\0"


GROW = """\
import sys
with open("model.bin", "wb") as fh:
    fh.write(b"w" * int(sys.argv[1]))
"""


class HugeFileAgent(Scripted):
    """Writes a 0.5 MiB file (stored), grows it to 3 MiB (over a 1 MiB cap), then lists files."""

    script = [
        ActionCall("Write File", {"file_name": "grow.py", "content": GROW}),
        ActionCall("Execute Script", {"script_name": "grow.py", "arguments": "524288"}),
        ActionCall("Execute Script", {"script_name": "grow.py", "arguments": "3145728"}),
        *GoodCartpoleAgent.script,
    ]


def test_a_file_over_the_snapshot_cap_is_skipped_and_the_agent_told(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLAB_SNAPSHOT_MAX_FILE_GB", str(1 / 1024))  # 1 MiB
    cli("run", "--task", "cartpole", "--sandbox", "process", "--agent", f"{HERE}:HugeFileAgent")
    (row,) = query(results, "SELECT status, n_steps, final_valid, final_score FROM runs")
    assert row[:3] == ("completed", 5, True) and row[3] > 150
    observations = [o for (o,) in query(results, "SELECT observation FROM steps ORDER BY step")]
    assert "too much to snapshot" not in observations[1]
    assert "model.bin (0.00 GiB) holds more than" in observations[2], observations[2]
    assert "too much to snapshot" not in observations[3], "said once, not every step"
    run = only_run(results)
    records = [json.loads(x) for x in (run / "snapshots" / "index.jsonl").read_text().splitlines()]
    assert [r["skip"] for r in records if "skip" in r] == [{"model.bin": 3 << 20}]
    assert allocated(run / "snapshots") < 2 << 20, "the 3 MiB version was never stored"

    from mlab_hpc.snapshots import SnapshotStore
    from mlab_hpc.workspace import Workspace

    store = SnapshotStore(run / "snapshots", Workspace(run / "workspace", []))
    assert "model.bin" not in store.manifest(store.current_id), "the stale version is dropped"
    assert "model.bin" not in store.restore(), "a resume leaves it as it is"
    assert (run / "workspace" / "model.bin").stat().st_size == 3 << 20
    store.close()


def _fill(folder: Path) -> None:
    """Write into ``folder`` until its filesystem has no room left."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\x5a" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.mark.parametrize("with_reserve", [True, False])
def test_a_step_line_on_a_full_disk_uses_the_reserve_once(
    small_disk: Path, with_reserve: bool
) -> None:
    from mlab_hpc import jsonl
    from mlab_hpc.diskspace import DiskFull, SpaceReserve, append_record

    run_dir = small_disk / "runs" / "r1"
    (run_dir / "trace").mkdir(parents=True)
    reserve = SpaceReserve(run_dir / "trace" / ".space-reserve", size=1 << 20).hold()
    assert reserve.held
    if not with_reserve:
        reserve.release()
    log = jsonl.Appender(run_dir / "trace" / "steps.jsonl")
    log.append({"step": 1, "observation": "small"})
    _fill(small_disk)
    row = {"step": 2, "observation": "y" * 300_000}  # larger than any page left over
    if with_reserve:
        log = append_record(log, row, reserve, run_dir, "recording step 2")
        log.close()
        assert not reserve.path.exists()
        assert [r["step"] for r in jsonl.read(log.path)] == [1, 2]
    else:
        with pytest.raises(DiskFull, match=str(small_disk)):
            append_record(log, row, reserve, run_dir, "recording step 2")
        assert [r["step"] for r in jsonl.read(log.path)] == [1]
        assert log.path.read_bytes().endswith(b"\n"), "no torn line is left"
