"""Attacks on grading by a hostile agent (issue 13): none of them may change a recorded score.

RL tasks: the grader runs the agent's policy.py. A policy that replaces the grader's score.json
by a symlink, or leaves a daemon that rewrites score.json after the grader wrote it, must be
scored on what it plays (the honest score), because the policy runs in a nested sandbox that
cannot see the grader's output folder and is dead before the grader writes, and because the
harness reads score.json without following links.

Supervised tasks: submission.csv made a symlink to the answer key's host path (by a script, or
through Copy File) must make the submission invalid with the reason "symlink not allowed":
graders only ever receive regular files.

The same attacks map to apptainer command lines (tests/test_apptainer.py checks that the
grader's answer key is bound at /mlab/answers and its output folder only into the grader).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlab_hpc.agents import AgentContext
from mlab_hpc.cli import main
from mlab_hpc.data import check_answer_key
from mlab_hpc.environment import ActionCall, StepRecord
from mlab_hpc.errors import DataError
from mlab_hpc.grading import (
    ANSWERS_INSIDE,
    Grade,
    grade_folder,
    grader_command,
    read_score,
    run_grader,
)
from mlab_hpc.runner import sandbox_limits
from mlab_hpc.sandbox import (
    ApptainerSandbox,
    BwrapSandbox,
    Mount,
    ProcessSandbox,
    Sandbox,
    SandboxLimits,
)
from mlab_hpc.taskspec import get_task

from .agents_for_tests import ScriptedAgent
from .conftest import require_bwrap

# A cartpole policy that always pushes left: every episode ends in about ten steps, so the
# honest score is small and the same every time (the grader's seeds are fixed).
HONEST_POLICY = """
def load(observation_space, action_space):
    return lambda obs: 0
"""

FORGED = {"valid": True, "reason": "", "metrics": {"mean_return": 500.0}}

# The daemon: finds the grader's --out path from its parent's command line, double-forks out of
# the policy's process, then waits for the grader to write score.json and forges it.
DAEMON = """
import json, os, sys, time

def _out_path():
    for name in os.listdir("/proc"):  # every process this one can see, the grader's included
        try:
            argv = open(f"/proc/{name}/cmdline", "rb").read().split(b"\\0")
        except OSError:
            continue
        if b"--out" in argv and any(a.endswith(b"eval.py") for a in argv):
            return argv[argv.index(b"--out") + 1].decode()
    return None

def _forge(out, mode):
    forged = json.dumps(%(forged)r)
    deadline = time.time() + 120
    while time.time() < deadline:
        if os.path.exists(out) and not os.path.islink(out) and os.path.getsize(out) > 0:
            try:
                if mode == "symlink":
                    fake = out + ".fake"
                    open(fake, "w").write(forged)
                    os.symlink(fake, out + ".lnk")
                    os.replace(out + ".lnk", out)
                else:
                    open(out, "w").write(forged)
            except OSError:
                pass
            return
        time.sleep(0.0005)

def start_forger():
    out = _out_path()
    if out is not None and os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            _forge(out, %(mode)r)
        os._exit(0)

"""

POLICY_ATTACK = (
    DAEMON
    + """
def load(observation_space, action_space):
    start_forger()
    return lambda obs: 0
"""
)


def policy_grade(tmp_path: Path, sandbox: Sandbox, policy: str) -> Grade:
    """The harness's grade of a cartpole workspace holding ``policy`` as policy.py."""
    task = get_task("cartpole")
    workspace = tmp_path / "workspace"
    workspace.mkdir(parents=True)
    (workspace / "policy.py").write_text(policy)
    return run_grader(task, sandbox, workspace, None, tmp_path / "scratch")


def sandboxes() -> list[str]:
    return ["bwrap", "process"]


def make_sandbox(name: str) -> Sandbox:
    limits = sandbox_limits(get_task("cartpole"))
    if name == "bwrap":
        require_bwrap()
        return BwrapSandbox(limits)
    return ProcessSandbox(limits)


@pytest.mark.parametrize("mode", ["symlink", "rewrite"])
@pytest.mark.parametrize("sandbox_name", sandboxes())
def test_a_policy_daemon_cannot_forge_the_rl_score(
    tmp_path: Path, sandbox_name: str, mode: str
) -> None:
    sandbox = make_sandbox(sandbox_name)
    honest = policy_grade(tmp_path / "honest", sandbox, HONEST_POLICY)
    assert honest.valid, honest.reason
    assert honest.metrics["mean_return"] < 50

    attacked = policy_grade(
        tmp_path / "attack", sandbox, POLICY_ATTACK % {"forged": FORGED, "mode": mode}
    )

    assert attacked.valid, attacked.reason
    assert attacked.metrics == honest.metrics


def test_score_file_that_is_a_link_fifo_or_huge_is_a_grader_failure(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text(json.dumps(FORGED))
    link = tmp_path / "link.json"
    link.symlink_to(real)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (20 << 20))

    assert read_score(real)["metrics"]["mean_return"] == 500.0
    for path, words in ((link, "link"), (fifo, "not a regular file"), (huge, "larger")):
        with pytest.raises(ValueError, match=words):
            read_score(path)


# --- supervised tasks: submission.csv aimed at the answer key --------------------------------


def answer_key_path() -> Path:
    """The host path of house-price's generated answer key under this test's MLAB_DATA."""
    task = get_task("house-price")
    return (
        Path(os.environ["MLAB_DATA"])
        / task.id
        / f"v{task.version}"
        / "generated"
        / ("private/answer.csv")
    )


class LinkByScriptAgent(ScriptedAgent):
    """Makes submission.csv a symlink to the answer key's host path with a script."""

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        code = f"import os\nos.symlink({str(answer_key_path())!r}, 'submission.csv')\n"
        self.script = [
            ActionCall("Write File", {"file_name": "link.py", "content": code}),
            ActionCall("Execute Script", {"script_name": "link.py"}),
        ]
        super().begin(ctx, history)


class LinkThroughCopyAgent(ScriptedAgent):
    """Links key.csv to the answer key with a script, then copies it to submission.csv."""

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        code = f"import os\nos.symlink({str(answer_key_path())!r}, 'key.csv')\n"
        self.script = [
            ActionCall("Write File", {"file_name": "link.py", "content": code}),
            ActionCall("Execute Script", {"script_name": "link.py"}),
            ActionCall("Copy File", {"source": "key.csv", "destination": "submission.csv"}),
        ]
        super().begin(ctx, history)


class RelativeLinkAgent(ScriptedAgent):
    """Makes submission.csv a relative symlink climbing out of the workspace to the key."""

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        code = (
            "import os\n"
            f"target = os.path.relpath({str(answer_key_path())!r}, os.getcwd())\n"
            "os.symlink(target, 'submission.csv')\n"
        )
        self.script = [
            ActionCall("Write File", {"file_name": "link.py", "content": code}),
            ActionCall("Execute Script", {"script_name": "link.py"}),
        ]
        super().begin(ctx, history)


@pytest.mark.parametrize(
    "agent", ["LinkByScriptAgent", "LinkThroughCopyAgent", "RelativeLinkAgent"]
)
def test_submission_linked_to_the_answer_key_is_never_followed(
    results: Path, data_root: Path, agent: str
) -> None:
    require_bwrap()
    assert (
        CliRunner()
        .invoke(main, ["prepare", "--tasks", "house-price", "--data", "generated"])
        .exit_code
        == 0
    )
    assert answer_key_path().is_file()
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--task",
            "house-price",
            "--agent",
            f"tests.test_hostile_grading:{agent}",
            "--data",
            "generated",
            "--sandbox",
            "bwrap",
        ],
    )
    assert result.exit_code == 0, result.output
    from mlab_hpc.analysis.db import connect

    cursor = connect(results, cache=False).execute("SELECT * FROM runs")
    names = [c[0] for c in cursor.description]
    (row,) = cursor.fetchall()
    run = dict(zip(names, row, strict=True))
    assert run["final_valid"] is not True, run
    assert not run["final_hr_normalized"]
    scores = (
        connect(results, cache=False)
        .execute("SELECT valid, reason, raw_score FROM scores ORDER BY step")
        .fetchall()
    )
    assert all(raw != 0.0 for _, _, raw in scores), scores  # MAE 0: the key itself was graded
    if agent != "LinkThroughCopyAgent":  # Copy File refuses the link: nothing is submitted
        assert any("symlink not allowed" in (reason or "") for _, reason, _ in scores), scores


# --- the answer key sits at a path that says nothing about the host --------------------------


def test_grader_sees_the_answer_key_at_a_fixed_path(tmp_path: Path) -> None:
    require_bwrap()
    task = get_task("house-price")
    answers = tmp_path / "host-secret-place" / "private"
    answers.mkdir(parents=True)
    (answers / "answer.csv").write_text("Id,SalePrice\n1,100000\n2,200000\n")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "submission.csv").write_text("Id,SalePrice\n1,100000\n2,200000\n")
    sandbox = BwrapSandbox(sandbox_limits(task))

    argv, mounts, _ = grader_command(task, sandbox, workspace, answers, tmp_path / "o" / "s.json")
    grade = run_grader(task, sandbox, workspace, answers, tmp_path / "scratch")

    assert argv[argv.index("--answers") + 1] == str(ANSWERS_INSIDE)
    assert not any("host-secret-place" in a for a in argv)
    assert grade.valid, grade.reason
    assert grade.metrics["mae"] == 0.0


def test_apptainer_grader_line_binds_the_key_at_the_fixed_path(tmp_path: Path) -> None:
    """The apptainer command line the bwrap tests above map to (no apptainer needed)."""
    task = get_task("house-price")
    box = ApptainerSandbox(SandboxLimits(), image=Path("/images/base.sif"))
    answers = Path("/data/house-price/v1/generated/private")
    ws = Path("/results/runs/r1/grading/ws-1")
    argv, mounts, env = grader_command(task, box, ws, answers, Path("/results/g/score.json"))
    line = box.command(argv, cwd=ws, mounts=mounts, env=env)

    binds = [line[i + 1] for i, a in enumerate(line) if a == "--bind"]
    assert f"{answers}:{ANSWERS_INSIDE}:ro" in binds
    assert f"{ws}:{ws}:ro" in binds and "/results/g:/results/g:rw" in binds
    assert line[line.index("--answers") + 1] == str(ANSWERS_INSIDE)


def test_process_cannot_remap_and_passes_the_host_path(tmp_path: Path) -> None:
    task = get_task("house-price")
    box = ProcessSandbox(SandboxLimits())
    argv, mounts, _ = grader_command(task, box, tmp_path, tmp_path / "key", tmp_path / "s.json")
    assert argv[argv.index("--answers") + 1] == str(tmp_path / "key")


# --- a changed answer key is refused at grading time -----------------------------------------


def prepared_house_price() -> Path:
    """house-price's generated answer folder under this test's MLAB_DATA, prepared now."""
    result = CliRunner().invoke(main, ["prepare", "--tasks", "house-price", "--data", "generated"])
    assert result.exit_code == 0, result.output
    return answer_key_path().parent


def same_size_change(path: Path) -> None:
    """Change one digit of the file's last line, keeping its size (what `verify(full=False)`
    and a size check would miss), and put its mtime back."""
    st = path.stat()
    text = path.read_text()
    i = max(i for i, c in enumerate(text) if c.isdigit())
    path.write_text(text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1 :])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size


def test_a_changed_answer_key_stops_grading_with_the_file_named(
    results: Path, data_root: Path, tmp_path: Path
) -> None:
    answers = prepared_house_price()
    check_answer_key(answers)  # verifies, and fills the hash cache
    check_answer_key(answers)  # from the cache
    same_size_change(answers / "answer.csv")

    with pytest.raises(DataError, match=r"answer\.csv.*prepare --tasks <task> --verify"):
        check_answer_key(answers)
    task = get_task("house-price")
    with pytest.raises(DataError, match="answer.csv"):  # before anything is graded or cached
        grade_folder(task, ProcessSandbox(), [task.env_dir], answers, tmp_path / "scratch")


def test_an_added_or_linked_file_in_the_answer_key_is_refused(data_root: Path) -> None:
    answers = prepared_house_price()
    (answers / "extra.csv").write_text("Id,SalePrice\n")
    with pytest.raises(DataError, match="extra.csv: not in"):
        check_answer_key(answers)
    (answers / "extra.csv").unlink()
    (answers / "link.csv").symlink_to(answers / "answer.csv")
    with pytest.raises(DataError, match="link.csv: not a regular file"):
        check_answer_key(answers)


# --- process: untrusted, but no secret and no survivor ---------------------------------------


DAEMON_SLEEPER = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(300)
    os._exit(0)
time.sleep(0.5)
print(sorted(k for k in os.environ if "KEY" in k or "TOKEN" in k or "SECRET" in k))
"""


@pytest.mark.parametrize("sandbox_name", sandboxes())
def test_commands_get_no_secret_and_leave_no_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_name: str
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "MY_SECRET"):
        monkeypatch.setenv(name, "sk-not-for-agents")
    sandbox = make_sandbox(sandbox_name)
    (tmp_path / "daemon.py").write_text(DAEMON_SLEEPER)
    pid_file = tmp_path / "pid"
    result = sandbox.run(
        [sandbox.python, "daemon.py", str(pid_file)],
        cwd=tmp_path,
        mounts=[Mount(tmp_path, writable=True)],
        timeout_s=60,
        output_file=tmp_path / "out.log",
        env={"SERVICE_TOKEN": "t0k3n"},  # even when a caller passes one
    )
    assert result.returncode == 0, result.output
    assert "sk-not-for-agents" not in result.output
    if sandbox_name == "process":
        assert result.output.strip().endswith("[]"), result.output
        pid = int(pid_file.read_text())
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


# --- a supervised task whose grader runs the agent's model (clrs) ----------------------------

CLRS_TRUTH = [[[0, 0, 1], [1, 1, 1], [1, 2, 2]], [[0, 0, 0], [1, 1, 1], [2, 2, 2]]]
CLRS_MODEL = """
import numpy as np

def predict(params, inputs):
    %(attack)s
    return np.repeat(params["guess"][None], inputs["A"].shape[0], axis=0)
"""


def clrs_grade(tmp_path: Path, attack: str) -> Grade:
    """The harness's bwrap grade of a clrs workspace whose model runs ``attack`` first."""
    import numpy as np

    answers = tmp_path / "answers"
    answers.mkdir(parents=True)
    truth = np.array(CLRS_TRUTH, np.int32)
    ones = np.ones((2, 3, 3), np.float32)
    pos = np.tile(np.arange(3) / 3, (2, 1)).astype(np.float32)
    np.savez(answers / "test.npz", pos=pos, A=ones, adj=ones, pi=truth)
    workspace = tmp_path / "workspace"
    (workspace / "checkpoints").mkdir(parents=True)
    np.savez(workspace / "checkpoints" / "params.npz", guess=truth[1])
    (workspace / "model.py").write_text(CLRS_MODEL % {"attack": attack})
    task = get_task("clrs")
    return run_grader(task, BwrapSandbox(sandbox_limits(task)), workspace, answers, tmp_path / "s")


@pytest.mark.parametrize("mode", ["symlink", "rewrite"])
def test_a_model_daemon_cannot_forge_the_clrs_score(tmp_path: Path, mode: str) -> None:
    require_bwrap()
    honest = clrs_grade(tmp_path / "honest", "pass")
    assert honest.valid, honest.reason
    forger = DAEMON % {"forged": {"valid": True, "metrics": {"score": 1.0}}, "mode": mode}
    attack = f"g = {{}}; exec({forger!r}, g); g['start_forger']()"

    attacked = clrs_grade(tmp_path / "attack", attack)

    assert attacked.valid, attacked.reason
    assert attacked.metrics["score"] == honest.metrics["score"] == pytest.approx(16 / 18)
