"""Shared fixtures: a results root and a data root per test, sandboxes by name."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlab_hpc.sandbox import BwrapSandbox, ProcessSandbox, Sandbox, SandboxLimits

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh results root, also exported as MLAB_RESULTS."""
    root = tmp_path / "results"
    monkeypatch.setenv("MLAB_RESULTS", str(root))
    return root


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data root, also exported as MLAB_DATA."""
    root = tmp_path / "data"
    monkeypatch.setenv("MLAB_DATA", str(root))
    return root


def require_bwrap() -> None:
    reason = BwrapSandbox.unavailable_reason()
    if reason is not None:
        pytest.fail(f"bubblewrap is required for these tests ({reason}); .ci/run installs it")


@pytest.fixture(params=["process", "bwrap"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """Each sandbox backend in turn (bwrap must work: CI installs it)."""
    if request.param == "bwrap":
        require_bwrap()
        return BwrapSandbox(SandboxLimits(mem_bytes=4 << 30))
    return ProcessSandbox(SandboxLimits(mem_bytes=4 << 30))


@pytest.fixture
def bwrap() -> Sandbox:
    require_bwrap()
    return BwrapSandbox(SandboxLimits(mem_bytes=4 << 30))


def cli(*args: str) -> str:
    """Run the mlab-hpc CLI in-process; it must succeed. Returns what it printed."""
    from click.testing import CliRunner

    from mlab_hpc.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def query(results: Path, sql: str) -> list[tuple]:
    """Run SQL over a results root through the project's analysis views (analysis/views.sql).

    ``runs`` is the view users query: the run's own facts with the anchors of its kind as they
    stand now (baseline score, success, human-relative); ``run_records`` is the table as written.
    """
    from mlab_hpc.analysis.db import connect

    con = connect(results, cache=False)
    calls = results / "tables" / "llm_calls"
    if calls.is_dir():  # with file_row_number: the order of the run's log
        con.execute(
            "CREATE OR REPLACE TEMP VIEW llm_calls AS SELECT * FROM read_parquet("
            f"'{calls}/**/*.parquet', hive_partitioning = true, file_row_number = true)"
        )
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A single-node Slurm cluster with accounting and one fake GPU, for the whole session."""
    root = tmp_path_factory.mktemp("dev-slurm")
    # ports of its own, so that test sessions running side by side do not collide
    port = str(20000 + (os.getpid() % 4000) * 4)
    env = {**os.environ, "DEV_SLURM_ROOT": str(root), "FAKE_GPUS": "1", "DEV_SLURM_PORT": port}
    start = subprocess.run(
        ["bash", str(REPO / "slurm/dev-cluster/start.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert start.returncode == 0, start.stdout + start.stderr
    conf = str(root / "etc" / "slurm.conf")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        subprocess.run(
            ["bash", str(REPO / "slurm/dev-cluster/stop.sh")],
            env=env,
            capture_output=True,
            timeout=120,
        )
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
