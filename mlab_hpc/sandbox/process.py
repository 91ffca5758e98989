"""The `process` sandbox: a plain subprocess under a reaper supervisor. No isolation.

It kills the whole process tree when the command exits and at a time-out (double-forked and
setsid() children included, via a child subreaper), passes no secret in the environment, and
applies rlimits, but sees the whole filesystem and the network, as the harness's own user:
runs under it are recorded with trusted = false. For development on machines without
bubblewrap or Apptainer only (README, Security).
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .base import ExecResult, Mount, Sandbox, spawn_and_wait

REAPER = Path(__file__).with_name("reaper.py")
# Variable names never passed to a command here, whoever set them (the clean base environment
# already leaves the harness's out): `process` shares the user with the harness, so a secret in
# a command's environment is the agent's.
SECRET_NAMES = ("*_API_KEY", "*TOKEN*", "*SECRET*", "*PASSWORD*", "OPENAI_*", "ANTHROPIC_*")


def without_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` less every variable whose name matches SECRET_NAMES (case-insensitive)."""
    return {
        k: v
        for k, v in env.items()
        if not any(fnmatch.fnmatch(k.upper(), pattern) for pattern in SECRET_NAMES)
    }


class ProcessSandbox(Sandbox):
    name = "process"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None if sys.platform.startswith("linux") else "needs Linux (/proc, prctl)"

    @property
    def isolates(self) -> bool:
        return False

    def command(self, argv: Sequence[str]) -> list[str]:
        """The supervisor command line that runs ``argv``."""
        cmd = [sys.executable, "-I", str(REAPER)]
        if self.limits.mem_bytes:
            cmd += ["--mem", str(self.limits.mem_bytes)]
        if self.limits.max_procs:
            cmd += ["--nproc", str(self.limits.max_procs)]
        return [*cmd, "--", *argv]

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
        return spawn_and_wait(
            self.command(argv),
            cwd=cwd,
            env=without_secrets(self.command_env(env)),
            timeout_s=timeout_s,
            output_file=output_file,
            graceful_stop=True,
            whole_mem_bytes=self.limits.whole_mem_bytes,
        )
