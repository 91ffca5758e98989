"""The package's shape: no import circles among its modules at import time."""

from __future__ import annotations

import ast
from pathlib import Path

import mlab_hpc

PACKAGE = Path(mlab_hpc.__file__).parent


def module_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports at module level (imports inside functions and
    under ``if TYPE_CHECKING`` run later or never, so they cannot make a circle at import)."""
    modules: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        if "grader_lib" in path.parts:  # run by graders in their own processes
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.parse(path.read_text()).body:
            if not (isinstance(node, ast.ImportFrom) and node.level):
                continue
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in modules:
                    graph[name].add(submodule)
                elif target in modules and target != name:
                    graph[name].add(target)
    return graph


def test_no_module_imports_itself_back() -> None:
    graph = module_graph()
    assert "mlab_hpc.cli.base" in graph and "mlab_hpc.runner" in graph  # the walk found them
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt], done)
        done.add(node)

    finished: set[str] = set()
    for start in sorted(graph):
        if start not in finished:
            visit(start, [start], finished)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles[:5])
