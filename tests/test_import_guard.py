"""A task's forbidden modules cannot be imported by anything that runs in the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlab_hpc.sandbox import BwrapSandbox, Mount, ProcessSandbox, SandboxLimits

from .conftest import require_bwrap


@pytest.mark.parametrize("backend", [ProcessSandbox, BwrapSandbox])
def test_forbidden_import_fails_with_a_clear_message(backend: type, tmp_path: Path) -> None:
    if backend is BwrapSandbox:
        require_bwrap()
    sandbox = backend(SandboxLimits(forbidden_modules=("json", "sb3_contrib")))
    script = tmp_path / "sneaky.py"
    script.write_text(
        "import importlib\n"
        "try:\n    importlib.import_module('json.decoder')\n"
        "except ImportError as exc:\n    print('refused:', exc)\n"
        "import csv\nprint('csv ok')\n"
    )
    result = sandbox.run(
        [sandbox.python, str(script)],
        cwd=tmp_path,
        mounts=[Mount(tmp_path)],
        timeout_s=30,
        output_file=tmp_path / "out.txt",
    )
    assert result.returncode == 0, result.output
    # the package is imported before its submodule: that import is the one refused
    assert "refused: importing 'json' is forbidden in this task" in result.output
    assert "csv ok" in result.output


def test_no_guard_without_forbidden_modules(tmp_path: Path) -> None:
    sandbox = ProcessSandbox(SandboxLimits())
    result = sandbox.run(
        [sandbox.python, "-c", "import json, os; print(os.environ.get('MLAB_FORBIDDEN_MODULES'))"],
        cwd=tmp_path,
        mounts=[],
        timeout_s=30,
        output_file=tmp_path / "o.txt",
    )
    assert result.output.strip() == "None"
