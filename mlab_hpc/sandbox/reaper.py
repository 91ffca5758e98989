"""Supervisor that runs one command and leaves no process of it behind.

Run as ``python -I reaper.py [--mem BYTES] [--nproc N] -- ARGV...``. It makes itself a child
subreaper, so descendants that double-fork or call setsid() are re-parented to it rather than to
init; when the command exits, or when the harness sends SIGTERM at a time-out, every remaining
descendant is killed and reaped. Standard library only: it must start fast and import nothing
from the harness.
"""

import ctypes
import os
import resource
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1


def descendants(root: int) -> list[int]:
    """PIDs of all live descendants of ``root``, from /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: fields start after the last ')'
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def kill_all_descendants() -> None:
    """SIGKILL and reap every descendant; repeat while new ones appear (a fork bomb)."""
    me = os.getpid()
    for _ in range(200):
        pids = descendants(me)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


def main() -> int:
    args = sys.argv[1:]
    mem = nproc = None
    while args and args[0] != "--":
        flag, value, args = args[0], args[1], args[2:]
        if flag == "--mem":
            mem = int(value)
        elif flag == "--nproc":
            nproc = int(value)
    argv = args[1:]

    def on_term(signum: int, frame: object) -> None:
        kill_all_descendants()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    # if the harness dies (even by SIGKILL), we get SIGTERM and take the command's tree with us
    parent = os.getppid()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the harness died before the line above
        return 137

    def limit() -> None:
        if mem:
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        if nproc:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

    try:
        child = subprocess.Popen(argv, preexec_fn=limit)
    except OSError as exc:
        print(f"cannot start {argv[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    code = child.wait()
    kill_all_descendants()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
