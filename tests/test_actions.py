"""Every action through a real Environment: happy paths, bad inputs, limits, the step log."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlab_hpc.actions import REGISTRY, RESEARCH_LOG
from mlab_hpc.environment import ActionCall, Environment, StepRecord, read_steps
from mlab_hpc.paths import RunPaths
from mlab_hpc.runner import _exclude_read_only
from mlab_hpc.sandbox import ProcessSandbox, Sandbox, SandboxLimits
from mlab_hpc.snapshots import SnapshotStore
from mlab_hpc.taskspec import Limits
from mlab_hpc.workspace import Workspace

TRAIN_CSV = "x,y\n1,2\n3,4\n"
TRAIN_PY = "".join(f"line {i}\n" for i in range(1, 151))

MakeEnv = Callable[..., Environment]


@pytest.fixture
def make_env(tmp_path: Path) -> MakeEnv:
    """Build an Environment the way runner.start_run does (process sandbox unless given)."""
    made: list[Environment] = []

    def make(
        sandbox: Sandbox | None = None,
        *,
        max_steps: int = 100,
        max_time_s: float = 600,
        action_timeout_s: float = 30,
        elapsed_s: float = 0.0,
    ) -> Environment:
        base = tmp_path / f"run{len(made)}"
        env_dir, data_dir = base / "task_env", base / "task_data"
        (env_dir / "sub").mkdir(parents=True)
        (env_dir / "train.py").write_text(TRAIN_PY)
        (env_dir / "sub" / "notes.txt").write_text("notes\n")
        data_dir.mkdir()
        (data_dir / "train.csv").write_text(TRAIN_CSV)
        (data_dir / "weights.bin").write_bytes(b"\x00\x01\x02binary")
        paths = RunPaths(base / "results" / "runs" / "r")
        paths.dir.mkdir(parents=True)
        ws = Workspace.create(paths.workspace, env_dir, data_dir, ["./train.csv"])
        store = SnapshotStore(paths.snapshots, ws, _exclude_read_only(ws))
        store.take(0)
        env = Environment(
            workspace=ws,
            sandbox=sandbox or ProcessSandbox(SandboxLimits(mem_bytes=4 << 30)),
            paths=paths,
            snapshots=store,
            sandbox_env={"MLAB_SEED": "0"},
            elapsed_s=elapsed_s,
            limits=Limits(
                max_steps=max_steps, max_time_s=max_time_s, action_timeout_s=action_timeout_s
            ),
        )
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


@pytest.fixture
def env(make_env: MakeEnv) -> Environment:
    return make_env()


def act(env: Environment, name: str, args: Any = None, **kwargs: Any) -> StepRecord:
    return env.execute(ActionCall(name, kwargs if args is None else args))


def ok(rec: StepRecord) -> StepRecord:
    assert rec.error_kind is None, rec.observation
    assert not rec.observation.startswith("Error")
    return rec


def failed(rec: StepRecord, kind: str) -> StepRecord:
    assert rec.error_kind == kind, rec.observation
    if kind not in ("nonzero_exit", "timeout"):  # those show the script's output instead
        assert rec.observation.startswith("Error: "), rec.observation
    return rec


def train_csv(env: Environment) -> str:
    return (env.workspace.root / "train.csv").read_text()


# ------------------------------------------------------------------------------ happy paths
def test_list_files(env: Environment) -> None:
    rec = ok(act(env, "List Files", dir_path="."))
    assert rec.observation.splitlines() == ["sub/", "train.csv", "train.py", "weights.bin"]
    assert ok(act(env, "List Files", {})).observation == rec.observation  # default "."
    assert ok(act(env, "List Files", None)).observation == rec.observation
    assert ok(act(env, "List Files", dir_path="sub")).observation == "notes.txt"
    (env.workspace.root / "empty").mkdir()
    assert "empty" in ok(act(env, "List Files", dir_path="empty")).observation
    failed(act(env, "List Files", dir_path="train.py"), "bad_arguments")
    failed(act(env, "List Files", dir_path="nope"), "not_found")


def test_read_file(env: Environment) -> None:
    assert ok(act(env, "Read File", file_name="train.csv")).observation == TRAIN_CSV
    assert ok(act(env, "Read File", file_name="./sub/notes.txt")).observation == "notes\n"
    failed(act(env, "Read File", file_name="missing.txt"), "not_found")
    failed(act(env, "Read File", file_name="sub"), "bad_arguments")


def test_read_binary_file(env: Environment) -> None:
    rec = failed(act(env, "Read File", file_name="weights.bin"), "binary_file")
    assert "binary" in rec.observation


def test_write_and_append_file(env: Environment) -> None:
    root = env.workspace.root
    rec = ok(act(env, "Write File", file_name="new/deep/a.py", content="print(1)\n"))
    assert "written" in rec.observation
    assert (root / "new" / "deep" / "a.py").read_text() == "print(1)\n"
    ok(act(env, "Write File", file_name="new/deep/a.py", content="print(2)\n"))
    assert (root / "new" / "deep" / "a.py").read_text() == "print(2)\n"
    rec = ok(act(env, "Append File", file_name="new/deep/a.py", content="print(3)\n"))
    assert "appended" in rec.observation
    assert (root / "new" / "deep" / "a.py").read_text() == "print(2)\nprint(3)\n"
    ok(act(env, "Append File", file_name="fresh.txt", content="x"))
    assert (root / "fresh.txt").read_text() == "x"
    failed(act(env, "Write File", file_name="sub", content="x"), "bad_arguments")
    failed(act(env, "Write File", file_name=".", content="x"), "bad_arguments")


def test_copy_file(env: Environment) -> None:
    root = env.workspace.root
    rec = ok(act(env, "Copy File", source="train.csv", destination="backup/train_copy.csv"))
    assert "copied" in rec.observation
    assert (root / "backup" / "train_copy.csv").read_text() == TRAIN_CSV
    # the copy of a read-only file is an ordinary file
    ok(act(env, "Write File", file_name="backup/train_copy.csv", content="mine"))
    failed(act(env, "Copy File", source="sub", destination="x"), "bad_arguments")
    failed(act(env, "Copy File", source="missing", destination="x"), "not_found")
    failed(act(env, "Copy File", source="train.py", destination="train.csv"), "read_only")
    assert train_csv(env) == TRAIN_CSV


def test_undo_edit_script(env: Environment) -> None:
    root = env.workspace.root
    ok(act(env, "Write File", file_name="model.py", content="v1\n"))
    ok(act(env, "Write File", file_name="model.py", content="v2\n"))
    ok(act(env, "Append File", file_name="model.py", content="v3\n"))
    rec = ok(act(env, "Undo Edit Script", script_name="model.py"))
    assert "v2" in rec.observation and (root / "model.py").read_text() == "v2\n"
    ok(act(env, "Undo Edit Script", script_name="./model.py"))
    assert (root / "model.py").read_text() == "v1\n"
    rec = ok(act(env, "Undo Edit Script", script_name="model.py"))
    assert "creation" in rec.observation
    assert not (root / "model.py").exists()
    failed(act(env, "Undo Edit Script", script_name="model.py"), "nothing_to_undo")
    # a copy over an existing file is undone too
    ok(act(env, "Copy File", source="sub/notes.txt", destination="train.py"))
    ok(act(env, "Undo Edit Script", script_name="train.py"))
    assert (root / "train.py").read_text() == TRAIN_PY
    failed(act(env, "Undo Edit Script", script_name="sub/notes.txt"), "nothing_to_undo")


def test_inspect_script_lines(env: Environment) -> None:
    rec = ok(
        act(
            env,
            "Inspect Script Lines",
            script_name="train.py",
            start_line_number=2,
            end_line_number=4,
        )
    )
    assert rec.observation.startswith("train.py has 150 lines. Lines 2-4:")
    assert rec.observation.splitlines()[1:] == ["2: line 2", "3: line 3", "4: line 4"]
    # integers as strings or whole floats are accepted
    rec = ok(
        act(
            env,
            "Inspect Script Lines",
            script_name="train.py",
            start_line_number="149",
            end_line_number=155.0,
        )
    )
    assert rec.observation.splitlines()[1:] == ["149: line 149", "150: line 150"]
    for start, end in ((0, 3), (5, 4), (1, 101)):
        failed(
            act(
                env,
                "Inspect Script Lines",
                script_name="train.py",
                start_line_number=start,
                end_line_number=end,
            ),
            "bad_arguments",
        )
    failed(
        act(
            env,
            "Inspect Script Lines",
            script_name="nope.py",
            start_line_number=1,
            end_line_number=2,
        ),
        "not_found",
    )


def test_execute_script_with_arguments(sandbox: Sandbox, make_env: MakeEnv) -> None:
    env = make_env(sandbox)
    ok(
        act(
            env,
            "Write File",
            file_name="show.py",
            content=(
                "import os, sys\n"
                "print('args', sys.argv[1:])\n"
                "print('seed', os.environ.get('MLAB_SEED'))\n"
                "print('rows', len(open('train.csv').read().splitlines()))\n"
            ),
        )
    )
    rec = ok(act(env, "Execute Script", script_name="show.py", arguments="--lr 0.1 'two words'"))
    assert rec.exit_code == 0
    assert "has been executed" in rec.observation
    assert "args ['--lr', '0.1', 'two words']" in rec.observation
    assert "seed 0" in rec.observation and "rows 3" in rec.observation
    log = env.paths.action_logs / f"step-{rec.step:05d}.out"
    assert "two words" in log.read_text()
    failed(
        act(env, "Execute Script", script_name="show.py", arguments="'unclosed"), "bad_arguments"
    )


def test_python_repl(sandbox: Sandbox, make_env: MakeEnv) -> None:
    env = make_env(sandbox)
    rec = ok(act(env, "Python REPL", command="print(6 * 7)"))
    assert rec.exit_code == 0 and "42" in rec.observation
    rec = ok(act(env, "Python REPL", command="import os; print(sorted(os.listdir('.')))"))
    assert "'train.py'" in rec.observation  # runs in the workspace
    assert "(no output)" in ok(act(env, "Python REPL", command="x = 1")).observation
    rec = failed(act(env, "Python REPL", command="raise ValueError('boom')"), "nonzero_exit")
    assert rec.exit_code == 1 and "ValueError: boom" in rec.observation


def test_research_log(env: Environment) -> None:
    ok(act(env, "Append Summary to Research Log", content="first idea\n\n"))
    ok(act(env, "Append Summary to Research Log", content="second idea"))
    assert (env.workspace.root / RESEARCH_LOG).read_text() == "first idea\nsecond idea\n"


def test_final_answer_ends_the_run(env: Environment) -> None:
    assert env.stop_reason() is None
    rec = ok(act(env, "Final Answer", final_answer="a linear model"))
    assert rec.done and env.done
    assert env.stop_reason() == "final_answer"
    with pytest.raises(RuntimeError):
        act(env, "List Files")
    assert len(read_steps(env.paths.steps_log)) == 1


# ------------------------------------------------------------------------------ action names
def test_unknown_action_suggests(env: Environment) -> None:
    rec = failed(act(env, "Reed File", file_name="train.py"), "unknown_action")
    assert "Did you mean 'Read File'?" in rec.observation
    assert rec.action == "Reed File"
    rec = failed(act(env, "Launch Rockets", {}), "unknown_action")
    assert "Did you mean" not in rec.observation
    for name in REGISTRY:
        assert name in rec.observation  # the valid actions are listed


@pytest.mark.parametrize(
    "name", ["read file", "READ FILE", "  Read   File ", "read_file", "Read_File"]
)
def test_action_name_case_and_spacing(env: Environment, name: str) -> None:
    rec = ok(act(env, name, file_name="train.csv"))
    assert rec.action == "Read File"
    assert rec.observation == TRAIN_CSV


# ------------------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize(
    ("name", "args", "needle"),
    [
        ("Read File", {}, "needs 'file_name'"),
        ("Write File", {"file_name": "a.txt"}, "needs 'content'"),
        ("Read File", {"file_name": "train.py", "mode": "r"}, "no parameter 'mode'"),
        ("Read File", {"path": "train.py"}, "no parameter 'path'"),
        ("Write File", {"file_name": "a.txt", "content": ["x"]}, "must be a string"),
        ("Read File", {"file_name": None}, "must be a string"),
        (
            "Inspect Script Lines",
            {"script_name": "train.py", "start_line_number": "one", "end_line_number": 3},
            "must be an integer",
        ),
        (
            "Inspect Script Lines",
            {"script_name": "train.py", "start_line_number": True, "end_line_number": 3},
            "must be an integer",
        ),
        (
            "Inspect Script Lines",
            {"script_name": "train.py", "start_line_number": 1.5, "end_line_number": 3},
            "must be an integer",
        ),
        ("Read File", ["train.py"], "must be a JSON object"),
        ("Read File", "train.py", "must be a JSON object"),
        ("Read File", 3, "must be a JSON object"),
        ("Read File", {"file_name": ""}, "empty"),
    ],
)
def test_bad_arguments(env: Environment, name: str, args: Any, needle: str) -> None:
    rec = failed(act(env, name, args), "bad_arguments")
    assert needle in rec.observation
    assert rec.snapshot_id == env.snapshots.current_id


def test_args_recorded_whatever_they_are(env: Environment) -> None:
    act(env, "Read File", {"file_name": "train.csv"})
    act(env, "Read File", ["a", 1])
    act(env, "Read File", {1, 2})
    rows = [json.loads(line) for line in env.paths.steps_log.read_text().splitlines()]
    assert json.loads(rows[0]["args"]) == {"file_name": "train.csv"}
    assert json.loads(rows[1]["args"]) == ["a", 1]
    assert isinstance(json.loads(rows[2]["args"]), str)  # not JSON: its repr


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("Read File", {"file_name": "../task_env/train.py"}),
        ("Read File", {"file_name": "/etc/passwd"}),
        ("List Files", {"dir_path": ".."}),
        ("Write File", {"file_name": "../evil.txt", "content": "x"}),
        ("Append File", {"file_name": "/tmp/mlab-test-escape-append.txt", "content": "x"}),
        ("Copy File", {"source": "train.py", "destination": "../evil.txt"}),
        ("Copy File", {"source": "/etc/hostname", "destination": "stolen.txt"}),
        ("Execute Script", {"script_name": "../evil.py"}),
        (
            "Inspect Script Lines",
            {"script_name": "../../x.py", "start_line_number": 1, "end_line_number": 2},
        ),
        ("Read File", {"file_name": "outlink"}),
    ],
)
def test_path_escapes(env: Environment, name: str, args: dict[str, Any]) -> None:
    (env.workspace.root / "outlink").symlink_to("/etc/hostname")
    rec = failed(act(env, name, args), "path_escape")
    assert "outside the workspace" in rec.observation
    assert not (env.paths.dir / "evil.txt").exists()
    assert not Path("/tmp/mlab-test-escape-append.txt").exists()
    assert not (env.workspace.root / "stolen.txt").exists()


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("Write File", {"file_name": "train.csv", "content": "0,0\n"}),
        ("Write File", {"file_name": "./train.csv", "content": "0,0\n"}),
        ("Write File", {"file_name": "sub/../train.csv", "content": "0,0\n"}),
        ("Append File", {"file_name": "train.csv", "content": "0,0\n"}),
        ("Append File", {"file_name": "./train.csv", "content": "0,0\n"}),
        ("Copy File", {"source": "train.py", "destination": "./train.csv"}),
        ("Undo Edit Script", {"script_name": "train.csv"}),
        ("Write File", {"file_name": "alias.csv", "content": "0,0\n"}),
    ],
)
def test_writing_a_read_only_file(env: Environment, name: str, args: dict[str, Any]) -> None:
    (env.workspace.root / "alias.csv").symlink_to("train.csv")
    rec = failed(act(env, name, args), "read_only")
    assert "read-only" in rec.observation
    assert train_csv(env) == TRAIN_CSV


def test_script_cannot_write_read_only_file_under_bwrap(bwrap: Sandbox, make_env: MakeEnv) -> None:
    env = make_env(bwrap)
    ok(
        act(
            env,
            "Write File",
            file_name="tamper.py",
            content=(
                "import os\n"
                "for attempt in ('w', 'a'):\n"
                "    try:\n"
                "        open('train.csv', attempt).write('0,0\\n')\n"
                "        print('WROTE', attempt)\n"
                "    except OSError as exc:\n"
                "        print('refused', attempt, exc.errno)\n"
                "ops = (lambda: os.remove('train.csv'),\n"
                "       lambda: os.rename('train.csv', 'x.csv'))\n"
                "for op in ops:\n"
                "    try:\n"
                "        op()\n"
                "        print('MOVED')\n"
                "    except OSError as exc:\n"
                "        print('refused', exc.errno)\n"
                "open('result.txt', 'w').write('ok')\n"
            ),
        )
    )
    before = env.snapshots.current_id
    rec = ok(act(env, "Execute Script", script_name="tamper.py"))
    assert "WROTE" not in rec.observation and "MOVED" not in rec.observation
    assert rec.observation.count("refused") == 4
    assert train_csv(env) == TRAIN_CSV
    assert (env.workspace.root / "result.txt").read_text() == "ok"
    assert rec.snapshot_id != before


# ------------------------------------------------------------------------------ execution errors
def test_execute_non_python_file(env: Environment) -> None:
    rec = failed(act(env, "Execute Script", script_name="train.csv"), "bad_arguments")
    assert ".py" in rec.observation
    failed(act(env, "Execute Script", script_name="missing.py"), "not_found")


def test_script_exit_code(sandbox: Sandbox, make_env: MakeEnv) -> None:
    env = make_env(sandbox)
    ok(
        act(
            env,
            "Write File",
            file_name="fail.py",
            content="import sys\nprint('about to fail')\nsys.exit(1)\n",
        )
    )
    rec = act(env, "Execute Script", script_name="fail.py")
    assert rec.error_kind == "nonzero_exit" and rec.exit_code == 1
    assert "exit code 1" in rec.observation and "about to fail" in rec.observation


def test_script_timeout_then_run_continues(sandbox: Sandbox, make_env: MakeEnv) -> None:
    env = make_env(sandbox, action_timeout_s=1)
    ok(
        act(
            env,
            "Write File",
            file_name="slow.py",
            content="import time\nprint('started', flush=True)\ntime.sleep(60)\n",
        )
    )
    t0 = time.monotonic()
    rec = act(env, "Execute Script", script_name="slow.py")
    assert time.monotonic() - t0 < 8
    assert rec.error_kind == "timeout" and rec.exit_code is None
    assert "time limit" in rec.observation and "started" in rec.observation
    assert env.stop_reason() is None
    assert "42" in ok(act(env, "Python REPL", command="print(42)")).observation


def test_llm_actions_without_a_model(env: Environment) -> None:
    calls = {
        "Understand File": {"file_name": "train.py", "things_to_look_for": "the model"},
        "Edit Script (AI)": {
            "script_name": "train.py",
            "edit_instruction": "x",
            "save_name": "train2.py",
        },
        "Edit Script Segment (AI)": {
            "script_name": "train.py",
            "start_line_number": 1,
            "end_line_number": 2,
            "edit_instruction": "x",
            "save_name": "train2.py",
        },
        "Reflection": {"things_to_reflect_on": "progress"},
        "Retrieval from Research Log": {"current_plan": "plan"},
    }
    assert set(calls) == {n for n, s in REGISTRY.items() if s.needs_model}
    for name, args in calls.items():
        rec = failed(act(env, name, args), "llm_unavailable")
        assert "language model" in rec.observation
    assert not (env.workspace.root / "train2.py").exists()


def test_symlink_loop_is_an_observation(env: Environment) -> None:
    (env.workspace.root / "loop").symlink_to("loop")
    for name, args in (
        ("Read File", {"file_name": "loop"}),
        ("Write File", {"file_name": "loop", "content": "x"}),
        ("Execute Script", {"script_name": "loop"}),
    ):
        rec = act(env, name, args)
        assert rec.error_kind is not None and rec.observation.startswith("Error")


def test_reading_a_fifo_does_not_hang(env: Environment) -> None:
    fifo = env.workspace.root / "pipe.py"
    os.mkfifo(fifo)
    finished = threading.Event()

    def unblock() -> None:  # if an action blocks opening the FIFO, give it a writer after 3 s
        deadline = time.monotonic() + 3
        while not finished.wait(0.05):
            if time.monotonic() > deadline:
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass

    watchdog = threading.Thread(target=unblock, daemon=True)
    watchdog.start()
    try:
        for name, args in (
            ("Read File", {"file_name": "pipe.py"}),
            (
                "Inspect Script Lines",
                {"script_name": "pipe.py", "start_line_number": 1, "end_line_number": 2},
            ),
            ("Append Summary to Research Log", None),
            ("Execute Script", {"script_name": "pipe.py"}),
        ):
            if args is None:  # a research log that is a FIFO
                os.mkfifo(env.workspace.root / RESEARCH_LOG)
                args = {"content": "note"}
            t0 = time.monotonic()
            rec = act(env, name, args)
            assert time.monotonic() - t0 < 2, name
            failed(rec, "bad_arguments")
    finally:
        finished.set()
        watchdog.join()


# ------------------------------------------------------------------------------ limits
def test_step_limit(make_env: MakeEnv) -> None:
    env = make_env(max_steps=3)
    for _ in range(3):
        assert env.stop_reason() is None
        act(env, "List Files")
    assert env.steps_taken == 3
    assert env.stop_reason() == "max_steps"
    with pytest.raises(RuntimeError):
        act(env, "List Files")
    assert len(read_steps(env.paths.steps_log)) == 3


def test_time_limit_caps_the_action_timeout(make_env: MakeEnv) -> None:
    env = make_env(max_time_s=1.5, action_timeout_s=60)
    ok(act(env, "Write File", file_name="slow.py", content="import time\ntime.sleep(60)\n"))
    t0 = time.monotonic()
    rec = act(env, "Execute Script", script_name="slow.py")
    assert time.monotonic() - t0 < 8  # not the 60 s action time-out
    assert rec.error_kind == "timeout"
    assert env.stop_reason() == "max_time"
    with pytest.raises(RuntimeError):
        act(env, "List Files")


def test_time_used_by_earlier_attempts_counts(make_env: MakeEnv) -> None:
    env = make_env(max_time_s=100, elapsed_s=100)
    assert env.stop_reason() == "max_time"
    assert env.time_left_s <= 0


# ------------------------------------------------------------------------------ records
def test_each_step_appends_one_log_line(env: Environment) -> None:
    records = [
        act(env, "List Files"),
        act(env, "Read File", file_name="nope"),
        act(env, "Write File", file_name="a.txt", content="A"),
        act(
            env,
            "Frobnicate",
            {},
        ),
        act(env, "Python REPL", command="print('hi')"),
    ]
    lines = env.paths.steps_log.read_text().splitlines()
    assert len(lines) == len(records)
    rows = [json.loads(line) for line in lines]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["action"] for r in rows] == [
        "List Files",
        "Read File",
        "Write File",
        "Frobnicate",
        "Python REPL",
    ]
    assert [r["error_kind"] for r in rows] == [None, "not_found", None, "unknown_action", None]
    for row, rec in zip(rows, records, strict=True):
        assert row == rec.to_row()
        assert set(row) == set(StepRecord.__dataclass_fields__)
        assert row["duration_s"] >= 0 and row["snapshot_id"]
    assert read_steps(env.paths.steps_log) == records


def test_snapshot_id_changes_only_when_files_change(sandbox: Sandbox, make_env: MakeEnv) -> None:
    env = make_env(sandbox)
    initial = env.snapshots.current_id
    assert initial
    ids = [initial]

    def step(name: str, **args: Any) -> str:
        ids.append(act(env, name, args).snapshot_id)
        return ids[-1]

    assert step("List Files") == initial
    assert step("Read File", file_name="train.py") == initial
    assert step("Read File", file_name="nope") == initial
    changed = step("Write File", file_name="a.txt", content="A")
    assert changed != initial
    assert step("Write File", file_name="a.txt", content="A") == changed  # same content
    assert step("Python REPL", command="print(1)") == changed  # ran, wrote nothing
    assert step("Write File", file_name="train.csv", content="x") == changed  # refused
    by_script = step("Python REPL", command="open('b.txt', 'w').write('B')")
    assert by_script != changed
    removed = step("Python REPL", command="import os; os.remove('a.txt')")
    assert removed not in (changed, by_script)
    logged = step("Append Summary to Research Log", content="note")
    assert logged != removed
    assert step("Final Answer") == logged

    # each id rebuilds the workspace of its step
    out = env.paths.dir / "rebuilt"
    env.snapshots.materialize(changed, out / "changed")
    assert (out / "changed" / "a.txt").read_text() == "A"
    assert not (out / "changed" / "b.txt").exists()
    assert not (out / "changed" / "train.csv").exists()  # read-only data is not stored
    env.snapshots.materialize(removed, out / "removed")
    assert not (out / "removed" / "a.txt").exists()
    assert (out / "removed" / "b.txt").read_text() == "B"
    assert [sid for _, sid in env.snapshots.snapshot_ids()] == list(dict.fromkeys(ids))


class _ScriptedModel:
    """A TextModel that answers from a list and keeps the prompts it was given."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.prompts: list[tuple[str, str]] = []

    def complete(self, prompt: str, *, purpose: str) -> str:
        self.prompts.append((purpose, prompt))
        return self.answers.pop(0)


def test_understand_file_reads_a_long_file_in_parts_and_merges(env: Environment) -> None:
    lines = [f"line {i}: " + "x" * 90 for i in range(300)]  # ~30,000 characters
    (env.workspace.root / "big.txt").write_text("\n".join(lines))
    model = _ScriptedModel(["part one", "part two", "part three", "merged report"])
    env.fast_model = model
    rec = ok(act(env, "Understand File", file_name="big.txt", things_to_look_for="the lines"))
    assert rec.observation == "merged report"
    assert [p for p, _ in model.prompts] == ["understand"] * 4
    chunks = [prompt for _, prompt in model.prompts[:3]]
    assert "line 0:" in chunks[0] and "line 299:" in chunks[2]
    assert all(len(c) < 13_000 for c in chunks)
    assert "part one" in model.prompts[3][1] and "part three" in model.prompts[3][1]


def test_understand_file_short_file_is_one_call(env: Environment) -> None:
    model = _ScriptedModel(["it trains a model"])
    env.fast_model = model
    rec = ok(act(env, "Understand File", file_name="train.py", things_to_look_for="what it does"))
    assert rec.observation == "it trains a model" and len(model.prompts) == 1


# ------------------------------------------------------------------ bounded sizes (issue 15)
def test_inspect_lines_of_huge_lines_is_cut_visibly(env: Environment) -> None:
    from mlab_hpc.environment import MAX_OBSERVATION_CHARS

    (env.workspace.root / "wide.py").write_text(("x" * 100_000 + "\n") * 100)
    rec = ok(act(env, "Inspect Script Lines", script_name="wide.py",
                 start_line_number=1, end_line_number=100))
    assert len(rec.observation) < MAX_OBSERVATION_CHARS + 200
    assert "observation cut at" in rec.observation


def test_undo_of_a_huge_file_is_cut_visibly(env: Environment) -> None:
    from mlab_hpc.environment import MAX_OBSERVATION_CHARS

    ok(act(env, "Write File", file_name="big.txt", content="y" * 3_000_000))
    ok(act(env, "Write File", file_name="big.txt", content="small"))
    rec = ok(act(env, "Undo Edit Script", script_name="big.txt"))
    assert len(rec.observation) < MAX_OBSERVATION_CHARS + 200
    assert "cut at" in rec.observation
    assert (env.workspace.root / "big.txt").stat().st_size == 3_000_000  # the file is whole


def test_huge_argument_is_refused_and_the_trace_stays_bounded(env: Environment) -> None:
    from mlab_hpc.environment import MAX_ARGS_CHARS

    (env.workspace.root / "echo.py").write_text("import sys\nprint(len(sys.argv))\n")
    rec = failed(act(env, "Execute Script", script_name="echo.py",
                     arguments="x" * (10 << 20)), "bad_arguments")
    assert "at most" in rec.observation
    (line,) = [json.loads(x) for x in env.paths.steps_log.read_text().splitlines()][-1:]
    assert len(line["args"]) < MAX_ARGS_CHARS + 200
    ok(act(env, "Execute Script", script_name="echo.py", arguments="a 'b c' \"d e\""))


def test_odd_thought_is_recorded_as_text(env: Environment) -> None:
    rec = env.execute(ActionCall("List Files", {}, thought=["a", 1]))  # type: ignore[arg-type]
    assert rec.thought == '["a", 1]'
    (row,) = [json.loads(x) for x in env.paths.steps_log.read_text().splitlines()]
    assert row["thought"] == '["a", 1]'


def test_non_utf8_file_name_is_snapshotted_and_restored(env: Environment) -> None:
    rec = ok(act(env, "Python REPL", command="open(b'bad\\xff.txt', 'w').write('x')"))
    assert rec.snapshot_id
    files = env.snapshots.manifest(rec.snapshot_id)
    assert any(name.startswith("bad") for name in files)
    ok(act(env, "List Files", dir_path="."))


def test_sparse_file_counts_allocated_bytes_and_quota_is_an_observation(
    make_env: MakeEnv,
) -> None:
    env = make_env()
    env.workspace.quota_bytes = 50 << 20
    # a 5 GiB sparse file allocates almost nothing: the quota counts what it holds
    with (env.workspace.root / "sparse.bin").open("wb") as fh:
        fh.truncate(5 << 30)
    assert env.workspace.used_bytes() < 10 << 20
    (env.workspace.root / "sparse.bin").unlink()  # (snapshots would still copy it whole)
    rec = act(env, "Python REPL", command="open('big.bin', 'wb').write(b'z' * (60 << 20))")
    assert rec.error_kind == "quota", rec.observation
    assert "quota" in rec.observation and "big.bin" in rec.observation
