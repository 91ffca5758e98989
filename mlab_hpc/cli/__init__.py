"""The command line: thin shells over the library. ``mlab-hpc --help`` lists the commands.

``base`` holds the root group and what commands share; each other module defines the commands
of one area and registers them on the root group when imported here. No module imports this
package or a sibling other than ``base``, so there is no import circle.
"""

from __future__ import annotations

from . import analysis, campaign, images, models, run, tasks  # noqa: F401  (registration)
from .base import Ctx, UsageError, main, run_options

__all__ = ["Ctx", "UsageError", "main", "run_options"]
