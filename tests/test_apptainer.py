"""The apptainer backend's command lines, checked against golden files (no apptainer here).

Regenerate the golden files after an intended change with MLAB_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlab_hpc import images
from mlab_hpc.errors import SandboxUnavailable
from mlab_hpc.sandbox import ApptainerSandbox, Mount, SandboxLimits, make_sandbox
from mlab_hpc.sandbox.base import GUARD_DIR

GOLDEN = Path(__file__).parent / "golden"
RUN = Path("/results/runs/r1")
WS = RUN / "workspace"


def agent_line(gpus: int) -> list[str]:
    """What Execute Script runs: the workspace writable, the data read-only, the import guard."""
    limits = SandboxLimits(gpus=gpus, environment="torch", forbidden_modules=("torch.hub",))
    box = ApptainerSandbox(limits, image=Path("/images/torch.sif"))
    env_policy, guard = box.policy()
    env = {"HOME": "/tmp", "LANG": "C.UTF-8", "MLAB_SEED": "0", **env_policy}
    mounts = [Mount(WS, writable=True), Mount(WS / "data" / "train.csv"), *guard]
    return box.command([box.python, "train.py"], cwd=WS, mounts=mounts, env=env)


def grader_line(gpus: int) -> list[str]:
    """What run_grader runs: snapshot, answer key, scripts read-only; its out folder writable."""
    box = ApptainerSandbox(SandboxLimits(gpus=gpus), image=Path("/images/base.sif"))
    snap = RUN / "grading" / "ws-3"
    out = RUN / "grading" / "grade-x"
    mounts = [
        Mount(snap),
        Mount(Path("/data/t/private")),
        Mount(Path("/repo/tasks/t/scripts")),
        Mount(Path("/repo/mlab_hpc/grader_lib")),
        Mount(out, writable=True),
    ]
    env = {"HOME": "/tmp", "MLAB_GRADER": "1", "PYTHONPATH": "/repo/mlab_hpc/grader_lib"}
    argv = [box.python, "/repo/tasks/t/scripts/eval.py", "--workspace", str(snap), "--out", "x"]
    return box.command(argv, cwd=snap, mounts=mounts, env=env)


@pytest.mark.parametrize(
    "name, line",
    [
        ("apptainer-agent-cpu", lambda: agent_line(0)),
        ("apptainer-agent-gpu", lambda: agent_line(1)),
        ("apptainer-grader-cpu", lambda: grader_line(0)),
        ("apptainer-grader-gpu", lambda: grader_line(2)),
    ],
)
def test_command_matches_golden(name, line):
    # the import guard lives in the checkout, wherever that is
    got = "\n".join(line()).replace(str(GUARD_DIR), "<GUARD_DIR>") + "\n"
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("MLAB_UPDATE_GOLDEN"):
        path.write_text(got)
    assert got == path.read_text(), f"{name}: command line differs from {path}"


def test_isolation_flags_and_binds():
    line = agent_line(0)
    for flag in ("--containall", "--cleanenv", "--no-home", "--net"):
        assert flag in line
    assert line[line.index("--network") + 1] == "none"
    assert "--nv" not in line and "--nv" in agent_line(1)
    binds = [line[i + 1] for i, a in enumerate(line) if a == "--bind"]
    assert binds == [
        f"{WS}:{WS}:rw",
        f"{WS}/data/train.csv:{WS}/data/train.csv:ro",
        f"{GUARD_DIR}:{GUARD_DIR}:ro",
    ]
    # the image, then the command, come last
    assert line[-3:] == ["/images/torch.sif", "python3", "train.py"]


def test_answer_key_only_for_the_grader():
    assert not any("/data/t/private" in a for a in agent_line(0))
    assert "/data/t/private:/data/t/private:ro" in grader_line(0)


def test_bind_separators_are_refused():
    box = ApptainerSandbox(image=Path("/images/base.sif"))
    with pytest.raises(ValueError, match="contains"):
        box.command(["true"], cwd=WS, mounts=[Mount(Path("/a,b"))], env={})


def test_env_leaves_path_to_the_image():
    env = ApptainerSandbox(image=Path("/i.sif")).command_env({"X": "1"})
    assert "PATH" not in env and env["X"] == "1"


def test_image_follows_the_task_family(tmp_path, monkeypatch):
    monkeypatch.setenv("MLAB_IMAGES", str(tmp_path))
    box = ApptainerSandbox(SandboxLimits(environment="rl"))
    assert box.image == tmp_path / "rl.sif"
    assert box.image_digest() is None
    (tmp_path / "rl.sif").write_bytes(b"sif")
    assert box.image_digest() == images.file_digest(tmp_path / "rl.sif")
    assert box.image_digest().startswith("sha256:")


def test_missing_image_is_an_observation_not_a_crash(tmp_path):
    box = ApptainerSandbox(image=tmp_path / "none.sif")
    res = box.run(["true"], cwd=tmp_path, mounts=[], timeout_s=5, output_file=tmp_path / "o")
    assert not res.ok and "does not exist" in res.output


def test_run_passes_the_command_line(tmp_path, monkeypatch):
    """run() binds the caller's mounts plus the policy's, and starts `apptainer exec`."""
    (tmp_path / "base.sif").write_bytes(b"x")
    seen = {}

    def fake_spawn(cmd, **kw):
        seen["cmd"], seen["kw"] = cmd, kw
        from mlab_hpc.sandbox import ExecResult

        return ExecResult(0, "", 0.0)

    monkeypatch.setattr("mlab_hpc.sandbox.apptainer.spawn_and_wait", fake_spawn)
    limits = SandboxLimits(forbidden_modules=("socket",), mem_bytes=2**30)
    box = ApptainerSandbox(limits, image=tmp_path / "base.sif")
    box.run(
        ["python3", "x.py"],
        cwd=tmp_path,
        mounts=[Mount(tmp_path, writable=True)],
        timeout_s=5,
        output_file=tmp_path / "o",
        env={"MLAB_SEED": "3"},
    )
    cmd = seen["cmd"]
    assert cmd[:2] == ["apptainer", "exec"]
    assert f"{GUARD_DIR}:{GUARD_DIR}:ro" in cmd
    assert "MLAB_SEED=3" in cmd and "MLAB_FORBIDDEN_MODULES=socket" in cmd
    assert seen["kw"]["mem_bytes"] == 2**30


def test_unavailable_says_the_binary_is_missing(monkeypatch):
    from mlab_hpc.sandbox import apptainer

    apptainer._probe.cache_clear()
    monkeypatch.setattr(apptainer.shutil, "which", lambda name: None)
    try:
        reason = ApptainerSandbox.unavailable_reason()
        assert reason and "apptainer binary is not installed" in reason
        with pytest.raises(SandboxUnavailable, match="apptainer binary"):
            make_sandbox("apptainer", SandboxLimits())
    finally:
        apptainer._probe.cache_clear()


def test_a_run_records_the_digest_of_its_image(tmp_path, monkeypatch, results, data_root):
    """create_run with the apptainer backend stores the .sif's digest for the runs row."""
    from mlab_hpc.runner import create_run
    from mlab_hpc.runrecord import RunConfig, RunOptions, RunState
    from mlab_hpc.sandbox import apptainer

    monkeypatch.setattr(apptainer, "_probe", lambda: None)  # pretend the binary is there
    images_root = tmp_path / "images"
    images_root.mkdir()
    (images_root / "base.sif").write_bytes(b"a base image")
    monkeypatch.setenv("MLAB_IMAGES", str(images_root))
    config = RunConfig(
        task="house-price",
        data_mode="generated",
        results=str(results),
        data_root=str(data_root),
        options=RunOptions(sandbox="apptainer"),
    )
    state = RunState.load(create_run(config))
    assert state.config.options.sandbox == "apptainer"
    assert state.image_digest == images.file_digest(images_root / "base.sif")
