"""Slurm's time-limit warning is for the harness, never for the agent's command.

Slurm delivers the warning signal (submitit's USR2) to every process of the job step, the
sandboxed command included: were the command to die of it, the step would end half done
while the harness was still deciding to requeue. Here the signal is sent, as Slurm does, to
every process under the test (the sandbox, its supervisor, the command), 20 times per backend,
and every command must finish its work.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from mlab_hpc.sandbox import ExecResult, Sandbox

INTERRUPTIONS = 20

SCRIPT = """
import pathlib, time
pathlib.Path("started").write_text("1")
time.sleep(0.3)
pathlib.Path("done").write_text("all of it")
"""


def descendants(root: int) -> list[int]:
    """Every live process whose parent chain reaches ``root`` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, pp in parents.items() if pp == pid]
        found += children
        frontier += children
    return found


def test_the_warning_signal_never_reaches_the_agents_command(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    from mlab_hpc.sandbox import Mount

    for i in range(INTERRUPTIONS):
        ws = tmp_path / f"ws{i}"
        ws.mkdir()
        (ws / "step.py").write_text(SCRIPT)
        result: list[ExecResult] = []

        def run(ws: Path = ws, result: list[ExecResult] = result) -> None:
            result.append(
                sandbox.run(
                    [sandbox.python, "step.py"],
                    cwd=ws,
                    mounts=[Mount(ws, writable=True)],
                    timeout_s=30,
                    output_file=ws.parent / f"{ws.name}.log",
                )
            )

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 20
        while not (ws / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (ws / "started").exists(), "the command never started"
        hit = 0
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGUSR2)
                hit += 1
            except ProcessLookupError:
                pass
        worker.join(timeout=30)
        assert hit, "no process to signal"
        (res,) = result
        assert res.returncode == 0, (i, res.returncode, res.output)
        assert (ws / "done").read_text() == "all of it", i

