"""The error tree of mlab-hpc: one base, shallow branches, messages a user can act on."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MlabError(Exception):
    """Base of every error mlab-hpc raises on purpose."""


class PrerequisiteError(MlabError):
    """Something the user must fix (bad input, missing data, missing tool).

    The CLI prints these as one line, without a traceback.
    """


class TaskSpecError(PrerequisiteError):
    """A task.toml that does not validate: the message names the file, the field and the fix."""

    def __init__(self, path: object, field: str, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        super().__init__(f"{path}: field '{field}': {problem}")


def did_you_mean(name: str, known: Iterable[str], n: int = 3) -> str:
    """The hint \" Did you mean 'a' or 'b'?\" for the names closest to ``name``, or \"\"."""
    close = difflib.get_close_matches(name, sorted(known), n=n, cutoff=0.5)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class UnknownNameError(PrerequisiteError):
    """A name (task, agent, sandbox, run, ...) that is not registered; suggests the closest
    ones. The CLI exits 2 for it: the command was given something that does not exist."""

    def __init__(self, kind: str, name: str, known: Iterable[str], where: str = "") -> None:
        known = sorted(known)
        hint = did_you_mean(name, known)
        listing = ", ".join(known) if len(known) <= 12 else ", ".join(known[:12]) + ", ..."
        where = f" {where}" if where else ""
        super().__init__(f"unknown {kind} '{name}'{where}.{hint} Known: {listing or '(none)'}")
        self.name = name
        self.suggestions = difflib.get_close_matches(name, known, n=3, cutoff=0.5)


class DataError(PrerequisiteError):
    """Task data missing or failing verification."""


class SandboxUnavailable(PrerequisiteError):
    """The requested sandbox backend cannot run on this machine."""
