"""The sandbox backends run real commands: output, exit codes, time-outs, limits, isolation."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from mlab_hpc.sandbox import BwrapSandbox, ExecResult, Mount, ProcessSandbox, Sandbox, SandboxLimits
from mlab_hpc.sandbox.base import read_output

REPO = Path(__file__).resolve().parent.parent


def run_py(
    sandbox: Sandbox,
    ws: Path,
    code: str,
    *args: str,
    timeout_s: float = 20,
    mounts: list[Mount] | None = None,
    env: dict[str, str] | None = None,
) -> ExecResult:
    """Run a Python script (written into the workspace) in the sandbox, the workspace writable."""
    ws.mkdir(parents=True, exist_ok=True)
    script = ws / f"script_{uuid.uuid4().hex[:8]}.py"
    script.write_text(textwrap.dedent(code))
    return sandbox.run(
        [sandbox.python, "-u", script.name, *args],
        cwd=ws,
        mounts=mounts if mounts is not None else [Mount(ws, writable=True)],
        timeout_s=timeout_s,
        output_file=ws.parent / "logs" / f"{script.stem}.out",
        env=env,
    )


def live_pids_with(token: str) -> list[int]:
    """Host PIDs of processes (not zombies) whose command line contains ``token``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state != b"Z":
            found.append(int(name))
    return found


def gone(pid: int) -> bool:
    """Whether a host PID no longer names a live process (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def wait_until(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# A script that starts a child sleeper and a double-forked, setsid()'d daemon (its stdio detached),
# writes their PIDs to pids.txt, then sleeps (argv[2] == "hang") or exits at once.
SPAWNER = """
    import os, subprocess, sys, time
    token, mode = sys.argv[1], sys.argv[2]
    sleep = [sys.executable, "-c", "import time; time.sleep(120)", token]
    sleeper = subprocess.Popen(sleep + ["sleeper"])
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        daemon = os.fork()
        if daemon > 0:
            os.write(w, str(daemon).encode())
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv(sys.executable, sleep + ["daemon"])
    os.close(w)
    daemon = int(os.read(r, 64).decode())
    os.waitpid(pid, 0)
    time.sleep(0.3)  # let both exec
    with open("pids.txt", "w") as fh:
        fh.write(f"{sleeper.pid} {daemon}\\n")
    print("spawned", flush=True)
    if mode == "hang":
        time.sleep(120)
    print("leaving")
"""


# ------------------------------------------------------------------------------------ both backends
def test_output_and_exit_code(sandbox: Sandbox, tmp_path: Path) -> None:
    res = run_py(
        sandbox,
        tmp_path / "ws",
        """
        import sys
        print("to stdout")
        print("to stderr", file=sys.stderr)
        sys.exit(7)
    """,
    )
    assert res.returncode == 7
    assert not res.timed_out and not res.ok
    assert "to stdout" in res.output and "to stderr" in res.output
    assert not res.output_truncated

    ok = run_py(sandbox, tmp_path / "ws", "print('fine')")
    assert ok.returncode == 0 and ok.ok
    assert ok.output == "fine\n"


def test_command_that_does_not_exist(sandbox: Sandbox, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    res = sandbox.run(
        ["no-such-command-xyz"],
        cwd=ws,
        mounts=[Mount(ws, writable=True)],
        timeout_s=10,
        output_file=tmp_path / "out.txt",
    )
    assert res.returncode not in (0, None)
    assert "no-such-command-xyz" in res.output


def test_timeout_kills_tree_and_daemon(sandbox: Sandbox, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    token = f"mlabtok-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    res = run_py(sandbox, ws, SPAWNER, token, "hang", timeout_s=1.5)
    took = time.monotonic() - t0
    assert res.timed_out and res.returncode is None and not res.ok
    assert took < 8
    assert "spawned" in res.output and "leaving" not in res.output
    sleeper, daemon = map(int, (ws / "pids.txt").read_text().split())
    assert wait_until(lambda: not live_pids_with(token)), live_pids_with(token)
    if isinstance(sandbox, ProcessSandbox):  # same PID namespace: the written PIDs are host PIDs
        assert gone(sleeper) and gone(daemon)


def test_daemon_left_behind_is_killed_when_command_exits(sandbox: Sandbox, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    token = f"mlabtok-{uuid.uuid4().hex}"
    res = run_py(sandbox, ws, SPAWNER, token, "exit", timeout_s=20)
    assert res.returncode == 0 and not res.timed_out
    assert "leaving" in res.output
    assert res.duration_s < 10  # a daemon holding no pipe cannot keep the harness waiting
    assert wait_until(lambda: not live_pids_with(token)), live_pids_with(token)
    if isinstance(sandbox, ProcessSandbox):
        sleeper, daemon = map(int, (ws / "pids.txt").read_text().split())
        assert gone(sleeper) and gone(daemon)


def test_output_over_cap_keeps_head_and_tail(sandbox: Sandbox, tmp_path: Path) -> None:
    res = run_py(
        sandbox,
        tmp_path / "ws",
        """
        import sys
        sys.stdout.write("HEAD-MARK" + "x" * 3_000_000 + "TAIL-MARK")
    """,
    )
    assert res.returncode == 0
    assert res.output_truncated
    assert res.output.startswith("HEAD-MARK")
    assert res.output.endswith("TAIL-MARK")
    assert "bytes of output omitted" in res.output
    assert len(res.output) < 1_100_000


def test_read_output_cap(tmp_path: Path) -> None:
    f = tmp_path / "out"
    f.write_bytes(b"A" * 50 + b"B" * 100 + b"C" * 50)
    text, truncated = read_output(f, cap=100)
    assert truncated
    assert text.startswith("A" * 50) and text.endswith("C" * 50)
    assert "[... 100 bytes of output omitted ...]" in text
    assert "B" not in text
    assert read_output(f, cap=1000) == (f.read_text(), False)
    assert read_output(tmp_path / "missing") == ("", False)


def test_memory_limit_fails_inside_the_command(sandbox: Sandbox, tmp_path: Path) -> None:
    small = type(sandbox)(SandboxLimits(mem_bytes=512 << 20))
    before = resource.getrlimit(resource.RLIMIT_AS)
    res = run_py(
        small,
        tmp_path / "ws",
        """
        import sys
        try:
            block = bytearray(2 << 30)
        except MemoryError:
            print("allocation refused")
            sys.exit(3)
        print("allocated", len(block))
    """,
    )
    assert res.returncode == 3, res.output
    assert "allocation refused" in res.output
    # the harness itself is not limited and can still allocate
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert len(bytearray(64 << 20)) == 64 << 20
    # and the same allocation works with the fixture's 4 GiB limit
    big = run_py(sandbox, tmp_path / "ws", "b = bytearray(256 << 20); print('allocated', len(b))")
    assert big.returncode == 0 and "allocated" in big.output


def test_harness_environment_does_not_leak(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "s3cr3t-value")
    res = run_py(
        sandbox,
        tmp_path / "ws",
        """
        import os
        for k, v in sorted(os.environ.items()):
            print(f"{k}={v}")
    """,
        env={"MLAB_SEED": "7"},
    )
    assert res.returncode == 0
    assert "SECRET_TOKEN" not in res.output and "s3cr3t-value" not in res.output
    assert "MLAB_SEED=7" in res.output.splitlines()


# ------------------------------------------------------------------------------------ bwrap only
def test_bwrap_has_no_network(bwrap: Sandbox, tmp_path: Path) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    port = server.getsockname()[1]
    code = """
        import socket, sys
        try:
            socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
            print("CONNECTED")
        except OSError as exc:
            print("connect failed:", type(exc).__name__)
        try:
            print("RESOLVED", socket.getaddrinfo("example.com", 80))
        except OSError as exc:
            print("dns failed:", type(exc).__name__)
    """
    try:
        res = run_py(bwrap, tmp_path / "ws", code, str(port))
        assert res.returncode == 0, res.output
        assert "connect failed" in res.output and "CONNECTED" not in res.output
        assert "dns failed" in res.output and "RESOLVED" not in res.output
        with pytest.raises(BlockingIOError):
            server.accept()
        # control: without isolation the same script does reach the server
        ctrl = run_py(ProcessSandbox(), tmp_path / "ws", code, str(port))
        assert "CONNECTED" in ctrl.output
    finally:
        server.close()


def test_bwrap_hides_unmounted_files(bwrap: Sandbox, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("private")
    assert (REPO / "tasks").is_dir()
    res = run_py(
        bwrap,
        tmp_path / "ws",
        """
        import os, sys
        for p in sys.argv[1:]:
            print(p, os.path.exists(p))
    """,
        str(secret),
        str(outside),
        str(REPO / "tasks"),
        str(REPO / "mlab_hpc"),
    )
    assert res.returncode == 0, res.output
    lines = res.output.splitlines()
    assert f"{secret} False" in lines
    assert f"{outside} False" in lines
    assert f"{REPO / 'tasks'} False" in lines
    assert f"{REPO / 'mlab_hpc'} False" in lines


def test_bwrap_read_only_and_writable_mounts(bwrap: Sandbox, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "data.txt").write_text("original")
    (ws / "protected.csv").write_text("keep")
    mounts = [
        Mount(ws, writable=True),
        Mount(ws / "protected.csv", writable=False),
        Mount(ro, writable=False),
    ]
    res = run_py(
        bwrap,
        ws,
        """
        import sys
        for target in sys.argv[1:]:
            try:
                with open(target, "w") as fh:
                    fh.write("changed")
                print("WROTE", target)
            except OSError as exc:
                print("refused", target, exc.errno)
        with open("made_inside.txt", "w") as fh:
            fh.write("hello")
    """,
        str(ro / "data.txt"),
        str(ro / "new.txt"),
        "protected.csv",
        mounts=mounts,
    )
    assert res.returncode == 0, res.output
    assert "WROTE" not in res.output
    assert res.output.count("refused") == 3
    assert (ro / "data.txt").read_text() == "original"
    assert not (ro / "new.txt").exists()
    assert (ws / "protected.csv").read_text() == "keep"
    assert (ws / "made_inside.txt").read_text() == "hello"


def test_bwrap_command_line(tmp_path: Path) -> None:
    sb = BwrapSandbox(SandboxLimits())
    ws = tmp_path / "ws"
    ro = tmp_path / "ro"
    argv = [sys.executable, "train.py"]
    mounts = [Mount(ws, writable=True), Mount(ro, writable=False)]
    cmd = sb.command(argv, cwd=ws, mounts=mounts, env={"A": "1"})
    assert cmd == sb.command(argv, cwd=ws, mounts=mounts, env={"A": "1"})  # pure
    assert cmd[0] == "bwrap"
    for flag in ("--unshare-all", "--die-with-parent", "--clearenv"):
        assert flag in cmd

    def index_of(seq: list[str]) -> int:
        for i in range(len(cmd) - len(seq) + 1):
            if cmd[i : i + len(seq)] == seq:
                return i
        raise AssertionError(f"{seq} not in {cmd}")

    bind_ws = index_of(["--bind", str(ws), str(ws)])
    index_of(["--ro-bind", str(ro), str(ro)])
    index_of(["--setenv", "A", "1"])
    index_of(["--chdir", str(ws)])
    # the workspace (often under /tmp) is bound after the tmpfs on /tmp, so it is not hidden
    assert index_of(["--tmpfs", "/tmp"]) < bind_ws
    assert cmd[-3:] == ["--", *argv]
    assert "--bind" not in cmd[:bind_ws]  # nothing else is writable


def test_bwrap_hides_host_secrets_even_from_root(bwrap: Sandbox, tmp_path: Path) -> None:
    res = run_py(
        bwrap,
        tmp_path / "ws",
        """
        import os
        for p in ("/etc/shadow", "/etc/gshadow"):
            try:
                data = open(p).read()
                print(p, "READ" if data else "empty")
            except OSError as exc:
                print(p, "refused", exc.errno)
        for d in ("/etc/ssh", "/etc/munge"):
            print(d, sorted(os.listdir(d)) if os.path.isdir(d) else "absent")
    """,
    )
    assert res.returncode == 0, res.output
    assert "READ" not in res.output
    for d in ("/etc/ssh", "/etc/munge"):
        assert f"{d} []" in res.output or f"{d} absent" in res.output


def test_process_sandbox_tree_dies_with_a_killed_harness(tmp_path: Path) -> None:
    """kill -9 of the harness leaves nothing behind: the reaper gets PDEATHSIG, kills its tree."""
    marker = f"mlab-orphan-{os.getpid()}-{time.monotonic_ns()}"
    harness = tmp_path / "harness.py"
    harness.write_text(
        "from pathlib import Path\n"
        "from mlab_hpc.sandbox import ProcessSandbox\n"
        "ProcessSandbox().run(['bash', '-c', '(setsid bash -c \"exec -a "
        f"{marker} sleep 300\" &); exec -a {marker} sleep 300'], cwd=Path({str(tmp_path)!r}),\n"
        f"    mounts=[], timeout_s=600, output_file=Path({str(tmp_path / 'out.txt')!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, str(harness)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(_pids_with(marker)) < 3:
        time.sleep(0.1)
    # the shell that started them, the sleeper, and the setsid()'d sleeper
    assert len(_pids_with(marker)) >= 3
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _pids_with(marker):
        time.sleep(0.1)
    assert _pids_with(marker) == []


def _pids_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found
