"""The `bwrap` sandbox: bubblewrap on any Linux, no root needed.

A minimal root is built from read-only system folders and the Python installation; the only
writable place is what the caller mounts writable (the workspace); every namespace is unshared,
so the network is a private loopback with nothing on it and the process tree lives in its own
PID namespace, which dies with it.

What bwrap can and cannot cap:

- Memory: bwrap itself has no memory limit. The harness sets RLIMIT_AS (address space) on the
  command, which every child inherits, but it is *per process*: a script that starts three
  children may use three times the limit (measured: 3 x 5 GiB succeed). With
  ``MLAB_SANDBOX_CGROUP=1`` every command also gets a memory cgroup of its own capping all its
  processes together (sandbox/cgroup.py; tested: 3 children x 256 MiB under a 600 MiB cap are
  OOM-killed), where this process may make one: cgroup v1 as root (this kind of VM), or a
  delegated cgroup v2 subtree (``systemd-run --user --scope -p Delegate=yes``). Elsewhere, on
  clusters Slurm's cgroup (the job's --mem) caps every process of the run together; on a
  workstation, run mlab-hpc under ``systemd-run --user --scope -p MemoryMax=...``.
- Processes: RLIMIT_NPROC is per user, not per sandbox; the PID namespace ends every process
  when the command ends or times out.
- Disk: no cap from bwrap; the workspace quota (workspace.py, MLAB_WORKSPACE_QUOTA_GB) is
  checked after each step by allocated bytes, and exceeding it is an observation.
- Time: the action's time-out kills the whole PID namespace.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .base import ExecResult, Mount, Sandbox, spawn_and_wait

SYSTEM_DIRS = ("/usr", "/etc", "/opt")
SECRET_FILES = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-")
SECRET_DIRS = ("/etc/ssh", "/etc/munge", "/etc/ssl/private", "/etc/slurm/jwt")
MERGED_USR_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def python_roots() -> list[Path]:
    """Folders the interpreter and its packages live in, outside the system folders."""
    roots: list[Path] = []
    for p in (sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)):
        path = Path(p).resolve()
        if any(path.is_relative_to(d) for d in SYSTEM_DIRS):
            continue
        if path not in roots and not any(path.is_relative_to(r) for r in roots):
            roots.append(path)
    return roots


class BwrapSandbox(Sandbox):
    name = "bwrap"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _probe()

    def command(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        mounts: Sequence[Mount],
        env: Mapping[str, str],
    ) -> list[str]:
        """The bwrap command line (pure: the same inputs give the same line)."""
        cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
        for d in SYSTEM_DIRS:
            if Path(d).is_dir():
                cmd += ["--ro-bind", d, d]
        for link in MERGED_USR_LINKS:
            p = Path(link)
            if p.is_symlink():
                cmd += ["--symlink", str(p.readlink()), link]
            elif p.is_dir():
                cmd += ["--ro-bind", link, link]
        # secrets under /etc stay hidden even from a sandboxed root (the munge key would let a
        # job forge Slurm credentials)
        for secret in SECRET_FILES:
            if Path(secret).exists():
                cmd += ["--ro-bind", "/dev/null", secret]
        for secret in SECRET_DIRS:
            if Path(secret).is_dir():
                cmd += ["--tmpfs", secret]
        cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        if self.limits.gpus:
            for dev in sorted(Path("/dev").glob("nvidia*")):
                cmd += ["--dev-bind", str(dev), str(dev)]
        # after --tmpfs /tmp, so that a Python or a workspace under /tmp is not hidden by it
        for root in python_roots():
            cmd += ["--ro-bind", str(root), str(root)]
        for mount in mounts:
            flag = "--bind" if mount.writable else "--ro-bind"
            cmd += [flag, str(mount.path), str(mount.inside)]
        for key, value in sorted(env.items()):
            cmd += ["--setenv", key, value]
        cmd += ["--chdir", str(cwd), "--", *argv]
        return cmd

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
        _, policy_mounts = self.policy()
        full_env = self.command_env(env)
        cmd = self.command(argv, cwd=cwd, mounts=[*mounts, *policy_mounts], env=full_env)
        # killing bwrap kills the sandbox's PID namespace (--die-with-parent): no reaper needed
        return spawn_and_wait(
            cmd,
            cwd=cwd,
            env=full_env,
            timeout_s=timeout_s,
            output_file=output_file,
            mem_bytes=self.limits.mem_bytes,
            whole_mem_bytes=self.limits.whole_mem_bytes,
        )


@functools.cache
def _probe() -> str | None:
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        proc = subprocess.run(
            [exe, "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "true"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap does not run here: {exc}"
    if proc.returncode != 0:
        return f"bwrap cannot create namespaces here: {proc.stderr.strip()[:200]}"
    return None
