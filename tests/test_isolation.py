"""Scripts that try to break out, run by the agent through Execute Script on the bwrap backend.

Each case must be blocked or contained, with the run going on afterwards (the next action
works) and the observation saying what happened. The same cases apply to the apptainer backend
on a cluster (its flags are checked in tests/test_apptainer.py).

Cases here (11): TCP to the host's 127.0.0.1, TCP elsewhere, DNS, reading the answer key,
reading the grader, reading another run's workspace, writing outside the workspace, writing
through a symlink the agent made, a daemon left after the time-out, a bounded fork bomb,
killing the harness. Covered elsewhere, not repeated here: memory over the limit
(test_sandbox.py::test_memory_limit_fails_inside_the_command), writing the task's read-only
files (test_actions.py::test_script_cannot_write_read_only_file_under_bwrap), forbidden imports
(test_import_guard.py::test_forbidden_import_fails_with_a_clear_message), the harness's
environment leaking in (test_sandbox.py::test_harness_environment_does_not_leak). A disk quota
is not configured by the harness, so filling the disk is not a case.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest

from mlab_hpc.environment import Environment, StepRecord
from mlab_hpc.sandbox import BwrapSandbox, SandboxLimits

from .conftest import require_bwrap
from .test_actions import MakeEnv, act, make_env  # noqa: F401 (make_env is a fixture)
from .test_sandbox import live_pids_with


@pytest.fixture
def box(make_env: MakeEnv, tmp_path: Path) -> tuple[Environment, Path]:  # noqa: F811
    """A run on bwrap, with host files it must not reach laid out around it."""
    require_bwrap()
    env = make_env(BwrapSandbox(SandboxLimits(mem_bytes=2 << 30)), action_timeout_s=3)
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / "key.csv").write_text("id,y\n1,42\n")
    (tmp_path / "task" / "scripts").mkdir(parents=True)
    (tmp_path / "task" / "scripts" / "eval.py").write_text("SECRET_GRADER = 1\n")
    (tmp_path / "other" / "workspace").mkdir(parents=True)
    (tmp_path / "other" / "workspace" / "notes.txt").write_text("other run's work\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "target.txt").write_text("original\n")
    return env, tmp_path


def attempt(env: Environment, code: str, *args: str) -> StepRecord:
    """Write ``code`` as a script, execute it, and check that the run goes on afterwards."""
    name = f"try_{uuid.uuid4().hex[:6]}.py"
    rec = act(env, "Write File", file_name=name, content=code)
    assert rec.error_kind is None, rec.observation
    rec = act(env, "Execute Script", script_name=name, arguments=" ".join(args))
    after = act(env, "Python REPL", command="print('still', 6 * 7)")
    assert after.error_kind is None and "still 42" in after.observation, after.observation
    assert env.stop_reason() is None
    return rec


SLEEP = "import time; time.sleep(300)"  # a long-lived process, named by its argv

PROBE = """
import sys
def probe(label, fn):
    try:
        fn()
        print(label, "LEAKED")
    except Exception as exc:
        print(label, "blocked:", type(exc).__name__, exc)
"""


def test_tcp_to_the_hosts_loopback(box):
    env, _ = box
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    try:
        code = PROBE + (
            "import socket\n"
            "port = int(sys.argv[1])\n"
            "probe('tcp-local', lambda: socket.create_connection(('127.0.0.1', port), 2))\n"
        )
        rec = attempt(env, code, str(server.getsockname()[1]))
        assert "tcp-local blocked" in rec.observation and "LEAKED" not in rec.observation
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


def test_tcp_elsewhere_and_dns(box):
    env, _ = box
    code = PROBE + (
        "import socket\n"
        "probe('tcp-remote', lambda: socket.create_connection(('1.1.1.1', 443), 2))\n"
        "probe('tcp-private', lambda: socket.create_connection(('10.0.0.1', 22), 2))\n"
        "probe('dns', lambda: socket.getaddrinfo('example.com', 443))\n"
    )
    rec = attempt(env, code)
    for label in ("tcp-remote", "tcp-private", "dns"):
        assert f"{label} blocked" in rec.observation, rec.observation
    assert "LEAKED" not in rec.observation


def test_reading_answer_key_grader_and_another_run(box):
    env, root = box
    targets = {
        "answer-key": root / "answers" / "key.csv",
        "grader": root / "task" / "scripts" / "eval.py",
        "other-run": root / "other" / "workspace" / "notes.txt",
        "other-run-dir": root / "other" / "workspace",
    }
    code = (
        PROBE
        + "import os\n"
        + "".join(
            f"probe({label!r}, lambda: print(open({str(p)!r}).read()))\n"
            if p.is_file()
            else f"probe({label!r}, lambda: print(os.listdir({str(p)!r})))\n"
            for label, p in targets.items()
        )
    )
    rec = attempt(env, code)
    for label in targets:
        assert f"{label} blocked" in rec.observation, rec.observation
    for secret in ("1,42", "SECRET_GRADER", "other run's work"):
        assert secret not in rec.observation


def test_writing_outside_directly_and_through_a_symlink(box):
    env, root = box
    target = root / "outside" / "target.txt"
    code = PROBE + (
        "import os\n"
        f"probe('write-abs', lambda: open({str(target)!r}, 'w').write('pwned'))\n"
        "probe('write-etc', lambda: open('/etc/mlab-pwned', 'w').write('pwned'))\n"
        "probe('write-usr', lambda: open('/usr/mlab-pwned', 'w').write('pwned'))\n"
        f"os.symlink({str(target)!r}, 'link.txt')\n"
        "probe('write-symlink', lambda: open('link.txt', 'w').write('pwned'))\n"
        "os.symlink('/etc', 'etc-link')\n"
        "probe('write-dir-symlink', lambda: open('etc-link/mlab-pwned', 'w').write('pwned'))\n"
    )
    rec = attempt(env, code)
    for label in ("write-abs", "write-etc", "write-usr", "write-symlink", "write-dir-symlink"):
        assert f"{label} blocked" in rec.observation, rec.observation
    assert target.read_text() == "original\n"
    assert not Path("/etc/mlab-pwned").exists() and not Path("/usr/mlab-pwned").exists()
    # the harness's own file actions do not follow the agent's symlink out either
    read = act(env, "Read File", file_name="link.txt")
    assert "original" not in read.observation


def test_daemon_left_after_the_timeout_is_killed(box):
    env, _ = box
    token = f"mlab-daemon-{uuid.uuid4().hex[:8]}"
    code = (
        "import os, sys, time\n"
        f"SLEEP = {SLEEP!r}\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', SLEEP, {token!r}])\n"
        "    os._exit(0)\n"
        "print('daemon started', flush=True)\n"
        "time.sleep(60)\n"
    )
    rec = attempt(env, code)
    assert rec.error_kind == "timeout" and "daemon started" in rec.observation
    deadline = time.monotonic() + 5
    while live_pids_with(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_pids_with(token) == []


def test_bounded_fork_bomb_is_contained(box):
    """A fork tree of 2**7 - 1 sleeping processes (bounded: never a real bomb on the host)."""
    env, _ = box
    token = f"mlab-bomb-{uuid.uuid4().hex[:8]}"
    code = (
        "import os, sys\n"
        f"SLEEP = {SLEEP!r}\n"
        "depth = 0\n"
        "for _ in range(6):\n"
        "    for _ in range(2):\n"
        "        if os.fork() == 0:\n"
        "            depth += 1\n"
        "            break\n"
        "    else:\n"
        "        break\n"
        "if depth == 0:\n"
        "    print('forked', flush=True)\n"
        f"os.execv(sys.executable, [sys.executable, '-c', SLEEP, {token!r}])\n"
    )
    rec = attempt(env, code)
    assert rec.error_kind == "timeout" and "forked" in rec.observation, rec.observation
    deadline = time.monotonic() + 5
    while live_pids_with(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_pids_with(token) == []


def test_killing_the_harness(box):
    env, _ = box
    code = PROBE + (
        "import os, signal\n"
        "print('my pid', os.getpid(), 'parent', os.getppid())\n"
        "probe('kill-harness-pid', lambda: os.kill(int(sys.argv[1]), signal.SIGKILL))\n"
        "probe('kill-parent', lambda: os.kill(os.getppid(), signal.SIGKILL))\n"
        "probe('kill-all', lambda: os.kill(-1, signal.SIGKILL))\n"
        "print('script survived')\n"
    )
    rec = attempt(env, code, str(os.getpid()))
    assert "kill-harness-pid blocked: ProcessLookupError" in rec.observation, rec.observation
    # the harness is alive (this test is running in it) and so is its parent
    os.kill(os.getpid(), 0)
    os.kill(os.getppid(), 0)
    assert signal.SIGKILL  # nothing reached outside the sandbox's PID namespace
