"""Sandboxes: where the agent's commands and the grader run. Chosen by name in one place."""

from __future__ import annotations

import logging

from ..errors import SandboxUnavailable, UnknownNameError
from .apptainer import ApptainerSandbox
from .base import ExecResult, Mount, Sandbox, SandboxLimits
from .bwrap import BwrapSandbox
from .process import ProcessSandbox

__all__ = [
    "ExecResult",
    "Mount",
    "Sandbox",
    "SandboxLimits",
    "ApptainerSandbox",
    "BwrapSandbox",
    "ProcessSandbox",
    "make_sandbox",
]

log = logging.getLogger(__name__)


def make_sandbox(name: str | None, limits: SandboxLimits) -> tuple[Sandbox, str | None]:
    """The sandbox called ``name``; ``None`` picks bwrap where it works, else process.

    Returns the sandbox and a one-line warning to show the user (or None).
    """
    if name is None:
        reason = BwrapSandbox.unavailable_reason()
        if reason is None:
            return BwrapSandbox(limits), None
        return ProcessSandbox(limits), (
            f"bwrap unavailable ({reason}); using the 'process' sandbox: no isolation, "
            "the agent's scripts can see the network and the whole filesystem"
        )
    if name not in Sandbox.registry:
        raise UnknownNameError("sandbox", name, Sandbox.registry)
    cls = Sandbox.registry[name]
    reason = cls.unavailable_reason()
    if reason is not None:
        raise SandboxUnavailable(f"sandbox '{name}' cannot run here: {reason}")
    return cls(limits), None
