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


class UnknownNameError(PrerequisiteError):
    """A name (task, agent, sandbox, ...) that is not registered; suggests the closest ones."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(known) if len(known) <= 12 else ", ".join(known[:12]) + ", ..."
        super().__init__(f"unknown {kind} '{name}'.{hint} Known: {listing}")
        self.name = name
        self.suggestions = close


class DataError(PrerequisiteError):
    """Task data missing or failing verification."""


class SandboxUnavailable(PrerequisiteError):
    """The requested sandbox backend cannot run on this machine."""
