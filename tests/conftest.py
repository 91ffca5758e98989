"""Shared fixtures: a results root and a data root per test, sandboxes by name."""

from __future__ import annotations

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
