"""Stop every other child of a grader while one child is being timed.

A timed grader (llama-inference) times the agent's process and a starter process in turn.
Between its own batches the agent's process is idle, and nothing but this module stops it from
using that time: threads or forked helpers that keep the CPU (and its caches and memory
bandwidth) busy exactly while the starter is timed make the starter slower, so the agent's
code looks faster without being faster. `Pauser.run_alone(pid, rivals)` sends SIGSTOP to
every process in the rivals' trees, and SIGCONT to those it stopped before that belong to
`pid`'s tree. SIGSTOP cannot be caught, blocked or ignored, and a stopped process runs no
thread at all. Stopping is repeated until a scan finds no running process in the rivals'
trees, so a process forked between a scan and its signal is caught by the next scan.

Orphans: under a nested bubblewrap (`mlab_untrusted`, ``--unshare-pid``) a helper whose
parent exits stays in the sandbox's PID namespace, below its root. Without one (no user
namespaces: the grader reports ``answers_hidden`` 0) it would be re-parented to init and
escape; `Pauser(adopt_orphans=True)`, for a grader in a process of its own, makes the grader
a child subreaper (prctl), so such orphans become its children and are paused with the
rivals. A grader called inside another program (a test) leaves that program's children alone.

What it cannot stop: work already handed to a device. Kernels queued on a GPU by the paused
process go on running; a process that queues long kernels just before it is paused can still
slow the other (not guarded; see the task README).

Nothing here may import mlab_hpc: inside the grader's sandbox it is importable as the
top-level module ``mlab_pause``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from pathlib import Path

_SCANS = 50  # rounds of stopping before giving up on a process tree that keeps forking


def _become_subreaper() -> bool:
    """Adopt orphaned descendants (PR_SET_CHILD_SUBREAPER); False where prctl fails."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # SUBREAPER = 36
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:  # gone meanwhile
            continue
        # the command name (field 2) may hold spaces and parentheses: split after its last ")"
        fields = stat[stat.rindex(b")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(root: int, parents: dict[int, int] | None = None) -> set[int]:
    """`root` and every process below it (nothing if `root` is gone)."""
    parents = _parents() if parents is None else parents
    if root not in parents:
        return set()
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal(pid: int, signum: int) -> bool:
    """Send `signum` to `pid`; False if the process is gone."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


class Pauser:
    """Lets one of several child process trees of this process run at a time."""

    def __init__(self, adopt_orphans: bool = False) -> None:
        self._adopting = adopt_orphans and _become_subreaper()
        self._stopped: set[int] = set()

    def _rival_processes(self, pid: int, rivals: Iterable[int]) -> tuple[set[int], set[int]]:
        """(pid's tree, the processes to stop): the rivals' trees and adopted orphans."""
        parents = _parents()
        keep = descendants(pid, parents)
        roots = set(rivals)
        if self._adopting:
            me = os.getpid()
            roots |= {child for child, parent in parents.items() if parent == me} - {pid}
        stop: set[int] = set()
        for root in roots:
            stop |= descendants(root, parents)
        return keep, stop - keep

    def run_alone(self, pid: int, rivals: Iterable[int]) -> None:
        """Resume `pid`'s tree and stop the trees of `rivals` (child pids of this process).

        RuntimeError if the rivals keep forking faster than they can be stopped.
        """
        rivals = list(rivals)
        for _ in range(_SCANS):
            keep, stop = self._rival_processes(pid, rivals)
            for resumed in self._stopped & keep:
                _signal(resumed, signal.SIGCONT)
            self._stopped -= keep
            fresh = stop - self._stopped
            if not fresh:
                return
            for other in fresh:
                if _signal(other, signal.SIGSTOP):
                    self._stopped.add(other)
        raise RuntimeError(
            f"the processes beside pid {pid} kept forking faster than they were paused"
        )

    def resume_all(self) -> None:
        """Resume every process this pauser stopped."""
        for pid in self._stopped:
            _signal(pid, signal.SIGCONT)
        self._stopped.clear()
