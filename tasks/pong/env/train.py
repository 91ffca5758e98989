"""Run the policy of policy.py on Pong (PongNoFrameskip-v4) and record its mean return.

The starter policy acts at random. Train a better one here (or in a script of your own), save
what it needs in this folder, and make policy.py load it. Running this script evaluates
whatever policy.py returns over 20 episodes and writes the mean return to submission.txt.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ale_py
import gymnasium as gym
import numpy as np
import policy

gym.register_envs(ale_py)  # makes the Atari games (ROMs included in ale_py) known to gym.make

ENV_ID = "PongNoFrameskip-v4"
EPISODES = 20
MAX_STEPS = 10_000  # frames, no-op start included
NOOP_MAX = 30
NOOP = 0
SUBMISSION_FILE = Path("submission.txt")


def start(env: gym.Env, seed: int) -> tuple[np.ndarray, float, bool]:
    """Reset with `seed`, then play 0 to 30 no-op frames (the number drawn from the seed).

    The grader starts every episode this way, before it first calls the policy. Returns the
    observation, the reward of those frames and whether the episode already ended.
    """
    observation, _ = env.reset(seed=seed)
    total = 0.0
    for _ in range(int(np.random.default_rng(seed).integers(0, NOOP_MAX + 1))):
        observation, reward, terminated, truncated, _ = env.step(NOOP)
        total += float(reward)
        if terminated or truncated:
            return observation, total, True
    return observation, total, False


def run_episode(env: gym.Env, act: Callable[[np.ndarray], Any], seed: int) -> float:
    """Play one episode from a reset with `seed`; return the sum of its rewards."""
    env.action_space.seed(seed)  # makes a random policy repeatable
    reset = getattr(act, "reset", None)
    if callable(reset):
        reset()  # as the grader does before every episode
    observation, total, ended = start(env, seed)
    while not ended:
        action = act(observation)
        if not env.action_space.contains(action):  # the grader would reject it
            raise ValueError(f"the policy returned {action!r}, not an action of {env.action_space}")
        observation, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        ended = terminated or truncated  # truncated: the MAX_STEPS cap
    return total


def evaluate(episodes: int = EPISODES) -> float:
    """Mean return of policy.py's policy over `episodes` episodes seeded 0, 1, 2, ..."""
    env = gym.make(ENV_ID, max_episode_steps=MAX_STEPS)
    act = policy.load(env.observation_space, env.action_space)
    returns = [run_episode(env, act, seed) for seed in range(episodes)]
    env.close()
    return float(np.mean(returns))


def main() -> None:
    """Evaluate the current policy and write its mean return to submission.txt."""
    # ------------------------------------------------------------------------------------
    # Your training goes here: learn a policy, save its parameters in this folder (for
    # example with torch.save or np.savez), and change policy.py so that load() reads them.
    # ------------------------------------------------------------------------------------

    mean_return = evaluate()
    print(f"mean return over {EPISODES} episodes: {mean_return:.2f}")
    SUBMISSION_FILE.write_text(f"{mean_return}\n")


if __name__ == "__main__":
    main()
