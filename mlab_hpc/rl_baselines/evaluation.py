"""Evaluate a written workspace the way a grader would: load its policy.py, play episodes."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .common import make_env

EVAL_SEED = 10_000  # evaluation episodes are reset with 10000, 10001, ...


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run the body with ``path`` as the working directory (policies read relative paths)."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def load_workspace_policy(out: Path, observation_space: Any, action_space: Any) -> Any:
    """Import ``out/policy.py`` and return what its load() returns."""
    spec = importlib.util.spec_from_file_location(f"policy_{abs(hash(out))}", out / "policy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    with working_directory(out):
        return module.load(observation_space, action_space)


def evaluate_workspace(
    out: Path,
    env_id: str,
    episodes: int,
    env_modules: tuple[str, ...] = (),
    max_episode_steps: int | None = None,
) -> list[float]:
    """Returns of the workspace's policy over ``episodes`` episodes (seeds 10000, 10001, ...)."""
    env = make_env(env_id, env_modules, max_episode_steps=max_episode_steps)
    act = load_workspace_policy(out, env.observation_space, env.action_space)
    returns = []
    for episode in range(episodes):
        seed = EVAL_SEED + episode
        if callable(getattr(act, "reset", None)):
            act.reset()
        observation, _ = env.reset(seed=seed)
        total, ended = 0.0, False
        while not ended:
            observation, reward, terminated, truncated, _ = env.step(act(observation))
            total += float(reward)
            ended = terminated or truncated
        returns.append(total)
    env.close()
    return returns
