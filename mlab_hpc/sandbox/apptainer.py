"""The `apptainer` sandbox: each command runs in its task family's image (the cluster backend).

`apptainer exec` with everything of the host left out that can be left out: --containall (own
PID and IPC namespaces, private /tmp, no home, no current folder), --cleanenv (only the variables
passed with --env), no bind paths from the site's configuration, and a network namespace with
no interface but loopback (--net --network none). Only the caller's mounts are bound, each at its
own path, read-only unless marked writable. --nv makes the host's NVIDIA driver visible when the
run has GPUs. The interpreter is the image's (python3 on the image's PATH).
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import images
from .base import ExecResult, Mount, Sandbox, SandboxLimits, spawn_and_wait

# characters that would split or re-read a --bind spec (src[:dst[:opts]], comma-separated list)
BIND_SEPARATORS = (",", ":")


class ApptainerSandbox(Sandbox):
    name = "apptainer"

    def __init__(self, limits: SandboxLimits | None = None, image: Path | None = None) -> None:
        super().__init__(limits)
        self.image = image or images.sif_path(self.limits.environment)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _probe()

    @property
    def python(self) -> str:
        return "python3"

    def image_digest(self) -> str | None:
        return images.file_digest(self.image) if self.image.is_file() else None

    def command_env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        """The harness's clean environment without PATH: the image's own PATH finds its tools."""
        full = super().command_env(env)
        full.pop("PATH", None)
        return full

    def command(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        mounts: Sequence[Mount],
        env: Mapping[str, str],
    ) -> list[str]:
        """The apptainer command line (pure: reads nothing, the same inputs give the same line)."""
        cmd = [
            "apptainer",
            "exec",
            "--containall",
            "--cleanenv",
            "--no-home",
            "--no-mount",
            "bind-paths",
            "--net",
            "--network",
            "none",
        ]
        if self.limits.gpus:
            cmd.append("--nv")
        for mount in mounts:
            path = str(mount.path)
            if any(sep in path for sep in BIND_SEPARATORS):
                raise ValueError(f"cannot bind {path!r} in apptainer: it contains ',' or ':'")
            inside = str(mount.inside)
            if any(sep in inside for sep in BIND_SEPARATORS):
                raise ValueError(f"cannot bind at {inside!r} in apptainer: it contains ',' or ':'")
            cmd += ["--bind", f"{path}:{inside}:{'rw' if mount.writable else 'ro'}"]
        for key, value in sorted(env.items()):
            cmd += ["--env", f"{key}={value}"]
        cmd += ["--pwd", str(cwd), str(self.image), *argv]
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
        if not self.image.is_file():
            return ExecResult(
                None,
                f"the {self.limits.environment} image {self.image} does not exist "
                "(build it with `mlab-hpc images build`)",
                0.0,
            )
        _, policy_mounts = self.policy()
        full_env = self.command_env(env)
        cmd = self.command(argv, cwd=cwd, mounts=[*mounts, *policy_mounts], env=full_env)
        # killing apptainer's starter ends the container's PID namespace, and every process in it
        return spawn_and_wait(
            cmd,
            cwd=cwd,
            env={**full_env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},  # finds apptainer
            timeout_s=timeout_s,
            output_file=output_file,
            mem_bytes=self.limits.mem_bytes,
            whole_mem_bytes=self.limits.whole_mem_bytes,
        )


@functools.cache
def _probe() -> str | None:
    if shutil.which("apptainer") is None:
        return (
            "the apptainer binary is not installed (not on PATH; Debian 12 has no package: "
            "load the cluster's apptainer module or install it from apptainer.org)"
        )
    return None
