"""Loaded by every Python the sandbox starts: refuses imports of the task's forbidden modules.

The harness puts this folder first on PYTHONPATH and lists the modules in
MLAB_FORBIDDEN_MODULES (comma-separated top-level names). Standard library only.
"""

import os
import sys

_FORBIDDEN = frozenset(
    m.strip() for m in os.environ.get("MLAB_FORBIDDEN_MODULES", "").split(",") if m.strip()
)


class _ForbiddenImportFinder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in _FORBIDDEN:
            raise ImportError(
                f"importing '{name}' is forbidden in this task (the task's rules forbid: "
                f"{', '.join(sorted(_FORBIDDEN))}); implement the method yourself",
                name=name,
            )
        return None

    @staticmethod
    def invalidate_caches():
        return None


if _FORBIDDEN:
    sys.meta_path.insert(0, _ForbiddenImportFinder())
