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


def test_the_continuous_control_starters_differ_only_in_their_constants() -> None:
    """The agent-facing train.py of the MuJoCo/Box2D tasks stay self-contained (the agent
    reads and edits one file that names its environment and limits), so they are copies:
    this keeps the copies in step. Only the docstring's first lines and the constants differ."""
    from .conftest import REPO

    tasks = ["pusher", "ant", "humanoid", "inverted-pendulum", "bipedal-walker"]
    own = ("ENV_ID = ", "EPISODES = ", "MAX_STEPS = ", '"""Run the policy of policy.py on ')

    def shared(task: str) -> list[str]:
        lines = (REPO / "tasks" / task / "env" / "train.py").read_text().splitlines()
        return [ln for ln in lines if not ln.startswith(own) and "episodes and writes" not in ln]

    first = shared(tasks[0])
    assert len(first) > 50
    for task in tasks[1:]:
        assert shared(task) == first, f"tasks/{task}/env/train.py drifted from tasks/pusher's"
