"""Hostile agents and broken inputs: the harness's limits hold, and one bad run blocks nothing.

Each test is an attack (an agent that thinks forever, a corrupt trace, an absurd argument, a bad
limit) run through the real CLI, real sandboxes, real Parquet and DuckDB.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlab_hpc.cli import main

from .conftest import REPO, cli, query

pytestmark = pytest.mark.usefixtures("data_root")

AGENTS = "tests.agents_for_tests"


@pytest.fixture(autouse=True)
def _importable_agents(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def only_run(results: Path) -> Path:
    (run,) = list((results / "runs").iterdir())
    return run


# ------------------------------------------------------------------ 1. the agent's own time
def test_agent_thinking_past_max_time_ends_the_run_as_timeout(results: Path) -> None:
    cli("run", "--task", "cartpole", "--sandbox", "process", "--agent",
        f"{AGENTS}:ThinkingAgent", "--max-time", "3")
    (row,) = query(results, "SELECT status, exit_reason, n_steps FROM runs")
    assert row[:2] == ("timeout", "max_time")
    steps = query(results, "SELECT step, action, error_kind FROM steps ORDER BY step")
    assert steps[0][1] == "List Files"
    assert steps[-1][2] == "cut", "the step in flight is recorded as cut"


def test_agent_hanging_forever_is_cut_at_max_time(results: Path) -> None:
    cli("run", "--task", "cartpole", "--sandbox", "process", "--agent",
        f"{AGENTS}:HangingAgent", "--max-time", "2")
    (row,) = query(results, "SELECT status, exit_reason, wall_s FROM runs")
    assert row[:2] == ("timeout", "max_time")


# ------------------------------------------------------------------ 2. one bad run blocks nothing
def test_odd_step_fields_are_coerced_when_recorded(results: Path) -> None:
    cli("run", "--task", "cartpole", "--sandbox", "process", "--agent",
        f"{AGENTS}:OddThoughtAgent")
    rows = query(results, "SELECT step, action, thought, error_kind FROM steps ORDER BY step")
    assert json.loads(rows[0][2]) == {"plan": [1, 2]}
    assert rows[1][1] == "42" and rows[1][2] == "" and rows[1][3] == "unknown_action"
    (status,) = query(results, "SELECT status FROM runs")[0]
    assert status == "completed"


def _abandon(run: Path) -> None:
    """Make a finished run look like one whose process died before grading."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    state = json.loads((run / "run.json").read_text())
    for key in ("exit_reason", "error", "ended_at"):
        state.pop(key, None)
    state.update(status="running", pid=dead.pid)
    (run / "run.json").write_text(json.dumps(state))


def _slow_run(results: Path) -> Path:
    cli("run", "--task", "cartpole", "--sandbox", "process", "--agent",
        f"{AGENTS}:SlowAgent", "--max-steps", "3")
    run = only_run(results)
    _abandon(run)
    return run


def test_corrupt_step_line_is_skipped_and_counted_on_recover(results: Path) -> None:
    run = _slow_run(results)
    steps = run / "trace" / "steps.jsonl"
    lines = steps.read_text().splitlines(keepends=True)
    lines.insert(1, "{not json at all\n")
    steps.write_text("".join(lines))
    out = cli("recover", "--all")
    assert "skipped 1 unreadable line" in out
    assert len(query(results, "SELECT step FROM steps")) == 3
    assert json.loads((run / "run.json").read_text())["status"] == "graded"


def test_corrupt_snapshot_index_line_does_not_break_recover(results: Path) -> None:
    run = _slow_run(results)
    index = run / "snapshots" / "index.jsonl"
    with index.open("a") as fh:
        fh.write("\x00\x01garbage\n")
    cli("recover", "--all")
    assert json.loads((run / "run.json").read_text())["status"] in ("graded", "unrecoverable")


def test_deleted_blobs_mark_the_run_unrecoverable_and_later_runs_go_on(results: Path) -> None:
    run = _slow_run(results)
    for blob in (run / "snapshots").rglob("*"):
        if blob.is_file() and blob.name != "index.jsonl":
            blob.unlink()
    (run / "trace" / "steps.jsonl").write_text("")
    (run / "run.json").write_text("{broken")  # and the state itself is gone
    code, out = run_cli("recover", run.name)
    assert code == 1 and "unrecoverable" in out and "Traceback" not in out
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "unrecoverable" and state["unrecoverable_reason"]
    cli("run", "--task", "cartpole", "--sandbox", "process", "--agent", "baseline")
    assert len(query(results, "SELECT run_id FROM runs")) >= 1


def test_truncated_parquet_is_skipped_with_a_warning(results: Path) -> None:
    cli("run", "--task", "cartpole", "--sandbox", "process", "--agent", "baseline")
    cli("run", "--task", "cartpole", "--sandbox", "process", "--agent", "baseline")
    files = sorted((results / "tables" / "runs").rglob("*.parquet"))
    assert len(files) == 2
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])
    for args in (("report",), ("sql", "SELECT count(*) AS n FROM runs")):
        code, out = run_cli(*args)
        assert code == 0, out
        assert files[0].name in out, out
    code, out = run_cli("show", files[1].stem)
    assert code == 0, out


# ------------------------------------------------------------------ 3. bounded sizes
def test_huge_arguments_are_bounded_and_parsed_linearly(tmp_path: Path) -> None:
    from mlab_hpc.actions import MAX_ARGUMENTS_CHARS, split_arguments

    assert split_arguments("a 'b c' \"d\\\"e\" f\\ g") == ["a", "b c", 'd"e', "f g"]
    token = "x" * (10 << 20)
    assert split_arguments(token) == [token]  # linear: quadratic splitting took minutes here
    assert len(token) > MAX_ARGUMENTS_CHARS


# ------------------------------------------------------------------ 4. limits validated
@pytest.mark.parametrize(
    "option, value",
    [("--max-time", "nan"), ("--max-time", "inf"), ("--max-time", "0"), ("--max-steps", "0"),
     ("--max-steps", "-3"), ("--action-timeout", "0"), ("--action-timeout", "-1")],
)
def test_bad_limits_are_refused_in_one_line(results: Path, option: str, value: str) -> None:
    code, out = run_cli("run", "--task", "cartpole", "--agent", "baseline", option, value)
    assert code != 0
    assert option in out and "Traceback" not in out
    assert not (results / "runs").exists()


@pytest.mark.parametrize("name", ["../..", "a/b", "..", ""])
def test_campaign_names_that_leave_the_tables_are_refused(results: Path, name: str) -> None:
    code, out = run_cli("run", "--task", "cartpole", "--agent", "baseline", "--campaign", name)
    assert code != 0 and "--campaign" in out
    assert not (results / "runs").exists()


def test_task_limits_must_be_finite_and_positive() -> None:
    from mlab_hpc.errors import MlabError
    from mlab_hpc.taskspec import check_limits

    with pytest.raises(MlabError, match="max_time_s"):
        check_limits(10, math.nan, 5, where="task.toml [limits]")
    with pytest.raises(MlabError, match="max_steps"):
        check_limits(0, 10, 5, where="task.toml [limits]")



# ------------------------------------------------------------------ 5. read-only folders
def test_a_glob_covering_a_folder_binds_the_folder_under_bwrap(tmp_path: Path) -> None:
    from mlab_hpc.actions import ActionContext, execute_script
    from mlab_hpc.sandbox import BwrapSandbox, SandboxLimits
    from mlab_hpc.snapshots import EditHistory, SnapshotStore
    from mlab_hpc.workspace import Workspace

    from .conftest import require_bwrap

    require_bwrap()
    env_dir, data = tmp_path / "env", tmp_path / "data"
    (data / "images").mkdir(parents=True)
    env_dir.mkdir()
    for i in range(4000):  # bwrap refused to start from about 2,990 single-file binds
        (data / "images" / f"{i:05d}.jpg").write_bytes(b"\xff\xd8")
    (env_dir / "probe.py").write_text(
        "import os\nprint(len(os.listdir('images')))\n"
        "try:\n    open('images/new.jpg', 'w')\n"
        "except OSError as e:\n    print('refused', e.errno)\n"
    )
    ws = Workspace.create(tmp_path / "ws", env_dir, data, ["images/*"])
    assert ws.read_only_mounts() == [ws.root / "images"]
    store = SnapshotStore(tmp_path / "snaps", ws, ws.is_read_only_rel)
    ctx = ActionContext(
        workspace=ws,
        sandbox=BwrapSandbox(SandboxLimits(mem_bytes=4 << 30)),
        logs_dir=tmp_path / "logs",
        history=EditHistory(tmp_path / "edits.jsonl", store),
        step=1,
        timeout_s=60,
    )
    out = execute_script(ctx, "probe.py").observation
    assert "4000" in out and "refused" in out, out
    store.close()


# ------------------------------------------------------------------ 6. user-facing failures
def test_unwritable_results_root_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out = run_cli("--results", str(blocker / "results"), "run", "--task", "cartpole",
                        "--agent", "baseline")
    assert code == 1 and "Traceback" not in out
    assert "not writable" in out and "--results" in out


def test_symlink_loop_in_a_task_env_is_a_one_line_error(tmp_path: Path) -> None:
    from mlab_hpc.errors import PrerequisiteError
    from mlab_hpc.workspace import Workspace

    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "train.py").write_text("pass\n")
    (env_dir / "loop").symlink_to("loop")
    with pytest.raises(PrerequisiteError, match="loop") as info:
        Workspace.create(tmp_path / "ws", env_dir, None, [])
    assert str(env_dir) in str(info.value) and "\n" not in str(info.value)


def test_non_utf8_task_toml_is_a_one_line_error(tmp_path: Path) -> None:
    from mlab_hpc.errors import TaskSpecError
    from mlab_hpc.taskspec import load_task

    (tmp_path / "task.toml").write_bytes(b'id = "caf\xe9"\n')
    with pytest.raises(TaskSpecError, match="UTF-8"):
        load_task(tmp_path)


# ------------------------------------------------------------------ 7. LLM-backed actions
@pytest.mark.parametrize(
    "model, action, args",
    [
        ("openai:gpt-4o-mini", "Edit Script (AI)",
         {"script_name": "policy.py", "edit_instruction": "balance", "save_name": "policy.py"}),
        ("anthropic:claude-sonnet-4", "Understand File",
         {"file_name": "train.py", "things_to_look_for": "the policy"}),
    ],
    ids=["openai-edit", "anthropic-understand"],
)
def test_llm_action_hanging_past_max_time_is_cut(
    results: Path, monkeypatch: pytest.MonkeyPatch, model: str, action: str, args: dict
) -> None:
    """The model call inside an action hangs: the total time limit still ends the run."""
    import time

    from .llm_server import ScriptedLLMServer, Slow

    reply = f"Thought: next, {action}.\nAction: {action}\nAction Input: {json.dumps(args)}"
    with ScriptedLLMServer([reply], fallback=Slow(600)) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
        monkeypatch.setenv("MLAB_LLM_RETRIES", "3")  # without the deadline: 4 x 60 s
        monkeypatch.setenv("MLAB_LLM_TIMEOUT_S", "60")
        t0 = time.monotonic()
        cli("run", "--task", "cartpole", "--sandbox", "process", "--agent", "react",
            "--model", model, "--max-time", "4")
        wall = time.monotonic() - t0
        assert len(server.received) == 2  # the agent's call, then the action's (hung)
    print(f"{model} {action}: run (grading included) ended after {wall:.1f} s")
    (row,) = query(results, "SELECT status, exit_reason, n_steps FROM runs")
    assert row == ("timeout", "max_time", 1)
    steps = query(results, "SELECT step, action, error_kind, observation FROM steps")
    assert steps[0][:3] == (1, action, "cut")
    assert "time limit" in steps[0][3]
    calls = query(results, "SELECT purpose, error FROM llm_calls ORDER BY file_row_number")
    assert calls[0] == ("agent", None) and "deadline" in (calls[-1][1] or "")
    assert wall < 4 + 30


def test_retry_waits_and_request_limits_never_pass_the_deadline(tmp_path: Path) -> None:
    """A server asking for long waits (Retry-After) cannot keep a call past the time limit."""
    from mlab_hpc.llm import DeadlineReached, LLMSession, Request, RetryPolicy
    from mlab_hpc.llm.base import TransientLLMError

    from .test_llm_units import FakeLLM

    clock = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    llm = FakeLLM([TransientLLMError("rate_limit", "slow down", retry_after_s=50)] * 9)
    session = LLMSession(
        tmp_path / "calls.jsonl",
        retry=RetryPolicy(retries=8, base_s=30, max_s=60, timeout_s=300),
        sleep=sleep,
    )
    session.bind_deadline(lambda: 7.0 - clock[0])
    with pytest.raises(DeadlineReached, match="time limit"):
        session.call(llm, Request("hello", "reflect"), "fast")
    assert slept == [7.0]  # one wait, cut at the deadline; no attempt after it
    assert [r.timeout_s for r in llm.requests] == [8.0]  # the time left plus the SDK margin


def test_agent_model_call_hanging_past_max_time_is_cut(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .llm_server import ScriptedLLMServer, Slow

    with ScriptedLLMServer([], fallback=Slow(600)) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("MLAB_LLM_TIMEOUT_S", "60")
        cli("run", "--task", "cartpole", "--sandbox", "process", "--agent", "react",
            "--model", "openai:gpt-4o-mini", "--max-time", "3")
    (row,) = query(results, "SELECT status, exit_reason, n_steps FROM runs")
    assert row == ("timeout", "max_time", 1)
    (step,) = query(results, "SELECT action, error_kind FROM steps")
    assert step == ("(agent)", "cut")


# ------------------------------------------------------------------ 8. a whole-sandbox memory cap
CHILDREN = """\
import subprocess, sys
child = "b = b'x' * (256 << 20); import time; time.sleep(1); print('child held 256 MiB')"
kids = [subprocess.Popen([sys.executable, "-c", child]) for _ in range(3)]
codes = [k.wait() for k in kids]
print("exit codes", codes)
"""


@pytest.mark.parametrize("backend", ["bwrap", "process"])
def test_three_children_together_over_the_whole_sandbox_cap_are_killed(
    tmp_path: Path, backend: str
) -> None:
    """Each child is under the per-process cap (RLIMIT_AS); the three together are not."""
    from mlab_hpc.sandbox import Mount, SandboxLimits, make_sandbox
    from mlab_hpc.sandbox.cgroup import MemoryCgroup

    from .conftest import require_bwrap

    probe = MemoryCgroup.create(1 << 30)
    if probe is None:
        pytest.skip("no writable memory cgroup here (cgroup v1 as root, or delegated v2)")
    probe.remove()
    if backend == "bwrap":
        require_bwrap()
    (tmp_path / "kids.py").write_text(CHILDREN)
    outputs = {}
    for cap in (None, 600 << 20):
        limits = SandboxLimits(mem_bytes=2 << 30, whole_mem_bytes=cap)
        sandbox, _ = make_sandbox(backend, limits)
        result = sandbox.run(
            ["python3", "kids.py"],
            cwd=tmp_path,
            mounts=[Mount(tmp_path, writable=True)],
            timeout_s=60,
            output_file=tmp_path / f"out-{cap}.txt",
        )
        outputs[cap] = result.output
    assert outputs[None].count("child held 256 MiB") == 3, outputs[None]
    capped = outputs[600 << 20]
    assert capped.count("child held 256 MiB") < 3, capped
    assert "memory cap of 0.59 GiB" in capped, capped
    assert not list(Path("/sys/fs/cgroup/memory").rglob("mlab-*")), "no cgroup is left behind"
