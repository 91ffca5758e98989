"""The Sandbox interface: run one command for the agent or the grader, contained.

A backend runs ``argv`` with cwd inside the workspace, only the given mounts visible (as far as the
backend can isolate), the network off, and a timeout that kills the whole process tree. Output
(stdout and stderr together) goes to a file, so a daemon that keeps a pipe open can never hang
the harness, and only a bounded amount of it is read back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

OUTPUT_CAP_BYTES = 1_000_000  # what an observation may carry of a script's output


@dataclass(frozen=True)
class Mount:
    """A host path made visible in the sandbox: at ``target`` when given, else at the same path.

    ``target`` needs a backend that can bind elsewhere (bwrap, apptainer); `process` sees host
    paths only and uses ``path``.
    """

    path: Path
    writable: bool = False
    target: Path | None = None

    @property
    def inside(self) -> Path:
        """Where the sandboxed command sees this mount."""
        return self.target if self.target is not None else self.path


@dataclass(frozen=True)
class SandboxLimits:
    """Per-command resource limits (None: no limit)."""

    mem_bytes: int | None = None
    max_procs: int | None = 512
    # every process of one command together (a memory cgroup, cgroup.py), where the machine
    # lets this process make one; None: the per-process cap only
    whole_mem_bytes: int | None = None
    gpus: int = 0
    forbidden_modules: tuple[str, ...] = ()  # imports refused in every Python the sandbox runs
    environment: str = "base"  # the task family: which image a container backend runs in


GUARD_DIR = Path(__file__).with_name("guard")


@dataclass
class ExecResult:
    """What a command did: exit code (None when killed), combined output, timing."""

    returncode: int | None
    output: str
    duration_s: float
    timed_out: bool = False
    output_truncated: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The clean environment commands run with: no secrets of the harness leak in."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    env.update(extra or {})
    return env


def read_output(path: Path, cap: int = OUTPUT_CAP_BYTES) -> tuple[str, bool]:
    """The output file's text, keeping the head and tail when it is longer than ``cap`` bytes."""
    size = path.stat().st_size if path.exists() else 0
    if size <= cap:
        return (path.read_bytes().decode("utf-8", "replace") if size else ""), False
    half = cap // 2
    with path.open("rb") as fh:
        head = fh.read(half)
        fh.seek(size - half)
        tail = fh.read(half)
    skipped = size - 2 * half
    text = (
        head.decode("utf-8", "replace")
        + f"\n[... {skipped} bytes of output omitted ...]\n"
        + tail.decode("utf-8", "replace")
    )
    return text, True


class Sandbox(ABC):
    """One isolation backend. Subclasses register themselves by ``name``."""

    name: ClassVar[str]
    registry: ClassVar[dict[str, type[Sandbox]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        Sandbox.registry[cls.name] = cls

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()

    @classmethod
    @abstractmethod
    def unavailable_reason(cls) -> str | None:
        """None when the backend works on this machine, else one line saying why not."""

    @property
    def python(self) -> str:
        """The interpreter that runs Python scripts inside this sandbox."""
        return sys.executable

    @property
    def isolates(self) -> bool:
        """Whether mounts, network and read-only paths are enforced (False for `process`)."""
        return True

    def image_digest(self) -> str | None:
        """The digest of the image commands run in (None for backends that use the host's)."""
        return None

    def policy(self) -> tuple[dict[str, str], list[Mount]]:
        """Environment variables and mounts that every command gets (the import guard)."""
        if not self.limits.forbidden_modules:
            return {}, []
        env = {
            "PYTHONPATH": str(GUARD_DIR),
            "MLAB_FORBIDDEN_MODULES": ",".join(self.limits.forbidden_modules),
        }
        return env, [Mount(GUARD_DIR)]

    def command_env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        """The full environment of a command: the clean base, the caller's, then the policy's.

        PYTHONPATH is joined rather than replaced, the policy's entries first: a caller that
        puts a library on the path (the grader's) keeps it when the import guard is on.
        """
        policy_env, _ = self.policy()
        merged = {**(env or {}), **policy_env}
        paths = [policy_env.get("PYTHONPATH", ""), (env or {}).get("PYTHONPATH", "")]
        if any(paths):
            merged["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        return base_env(merged)

    @abstractmethod
    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        mounts: Sequence[Mount],
        timeout_s: float,
        output_file: Path,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run ``argv``; never raises for what the command does (exit code, time-out, output)."""


def spawn_and_wait(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    output_file: Path,
    graceful_stop: bool = False,
    mem_bytes: int | None = None,
    whole_mem_bytes: int | None = None,
) -> ExecResult:
    """Start ``argv`` in a new session with output to ``output_file``; wait at most ``timeout_s``.

    At the time-out the session is killed: with ``graceful_stop`` the leader first gets SIGTERM
    and 5 s to clean up its tree (the reaper supervisor does), then everything gets SIGKILL.
    ``mem_bytes`` caps the address space of the command (RLIMIT_AS, inherited by its children).
    ``whole_mem_bytes`` caps the memory of all its processes together, in a memory cgroup made
    for the command where this machine allows one (sandbox/cgroup.py); else it is ignored.
    """
    import resource

    from .cgroup import MemoryCgroup

    group = MemoryCgroup.create(whole_mem_bytes) if whole_mem_bytes else None
    if whole_mem_bytes and group is None:
        MemoryCgroup.warn_unavailable()

    def limit() -> None:
        # Slurm's time-limit warning (submitit's USR2) is sent to every process of the job
        # step: it is for the harness, which requeues the run; the command ignores it (the
        # disposition survives exec and is inherited by its children), so a step is never
        # half done because of it.
        for signum in HARNESS_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        if mem_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
        if group is not None:
            group.enter()

    killed = False
    try:
        result = _spawn(argv, cwd, env, timeout_s, output_file, graceful_stop, limit)
    finally:
        if group is not None:
            killed = group.oom_killed()
            group.remove()
    if group is not None and killed:
        gib = group.limit_bytes / 2**30
        result.output += (
            f"\n[killed: the command's processes together went over the sandbox's memory cap "
            f"of {gib:.2f} GiB]"
        )
    return result


def _spawn(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    output_file: Path,
    graceful_stop: bool,
    limit: Callable[[], None],
) -> ExecResult:
    """The body of :func:`spawn_and_wait`: ``limit`` runs in the child before exec."""
    import time

    output_file.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with output_file.open("wb") as out:
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=limit,
            )
        except OSError as exc:
            return ExecResult(
                None, f"cannot start {argv[0]!r}: {exc.strerror}", time.monotonic() - start
            )
        timed_out = False
        try:
            proc.wait(timeout=max(timeout_s, 0.0))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_session(proc, graceful_stop)
        except BaseException:  # the harness itself is stopped (Slurm requeue, Ctrl-C)
            _kill_session(proc, graceful_stop)
            raise
    duration = time.monotonic() - start
    text, truncated = read_output(output_file)
    return ExecResult(None if timed_out else proc.returncode, text, duration, timed_out, truncated)


# Signals meant for the harness that Slurm also delivers to the commands it runs.
HARNESS_SIGNALS = (signal.SIGUSR2,)


def _kill_session(proc: subprocess.Popen[bytes], graceful: bool) -> None:
    """Kill a command's whole session: at its time-out, or because the harness is exiting.

    With ``graceful`` the leader (the reaper supervisor) first gets SIGTERM and 5 s to kill its
    tree, re-parented children included; then the session gets SIGKILL.
    """
    if graceful:
        proc.send_signal(signal.SIGTERM)  # the reaper kills its tree, re-parented children too
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
