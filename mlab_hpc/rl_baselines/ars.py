"""Augmented random search over linear policies (numpy only).

Each iteration perturbs the policy matrix in ``directions`` random directions, plays one episode
with each perturbation added and one with it subtracted, and moves the matrix along the
directions whose better side did best, scaled by the spread of their returns. Observations are
normalised with running statistics of every state visited, which are saved with the matrix. The
result is ``policy_files/linear_policy.py`` + weights.npz: a linear policy, as the published
human reference of BipedalWalker is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from .common import Progress, RunningNorm, flat_size, make_env, seed_everything, write_workspace
from .evaluation import evaluate_workspace


@dataclass(frozen=True)
class ARSConfig:
    """Settings of one ARS training run."""

    env_id: str
    total_steps: int
    directions: int = 16
    top_directions: int = 8
    step_size: float = 0.02
    noise: float = 0.03
    max_episode_steps: int = 1600
    eval_episodes: int = 10
    seed: int = 0


def rollout(
    env: gym.Env, matrix: np.ndarray, norm: RunningNorm, seed: int, max_steps: int
) -> tuple[float, np.ndarray]:
    """One episode of the linear policy: its return and the raw states it visited."""
    space = env.action_space
    assert isinstance(space, gym.spaces.Box), "ARS here needs a box action space"
    observation, _ = env.reset(seed=seed)
    total, states = 0.0, []
    for _ in range(max_steps):
        states.append(observation)
        action = np.clip(matrix @ norm(observation), space.low, space.high).astype(space.dtype)
        observation, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if terminated or truncated:
            break
    return total, np.asarray(states)


def train(config: ARSConfig, out: Path) -> dict[str, Any]:
    """Train a linear policy with ARS, write the workspace to ``out``; returns a summary."""
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    env = make_env(config.env_id)
    obs_dim = flat_size(env.observation_space)
    act_dim = flat_size(env.action_space)
    matrix = np.zeros((act_dim, obs_dim))
    norm = RunningNorm((obs_dim,))
    progress = Progress(config.total_steps)
    steps, episode, best = 0, 0, []
    while steps < config.total_steps:
        deltas = rng.standard_normal((config.directions, act_dim, obs_dim))
        results = np.zeros((config.directions, 2))
        visited = []
        for k, delta in enumerate(deltas):
            for side, sign in enumerate((1.0, -1.0)):
                episode += 1
                total, states = rollout(
                    env,
                    matrix + sign * config.noise * delta,
                    norm,
                    config.seed + episode,
                    config.max_episode_steps,
                )
                results[k, side] = total
                visited.append(states)
                steps += len(states)
        order = np.argsort(-results.max(axis=1))[: config.top_directions]
        spread = results[order].std() or 1.0
        step = (results[order, 0] - results[order, 1])[:, None, None] * deltas[order]
        matrix += config.step_size / (config.top_directions * spread) * step.sum(axis=0)
        norm.update(np.concatenate(visited))
        best.append(float(results.max()))
        progress(steps, best)
    env.close()

    weights = {"matrix": matrix, "obs_mean": norm.mean, "obs_std": norm.std}
    info: dict[str, Any] = {"algorithm": "ARS", "config": asdict(config), "env_steps": steps}
    write_workspace(out, "linear_policy.py", weights, info)
    info["eval_returns"] = evaluate_workspace(
        out, config.env_id, config.eval_episodes, max_episode_steps=config.max_episode_steps
    )
    write_workspace(out, "linear_policy.py", weights, info)
    return info
