"""Run the policy of policy.py on InvertedPendulum-v5 and record its mean return.

The starter policy acts at random. Train a better one here (or in a script of your own), save
what it needs in this folder, and make policy.py load it. Running this script evaluates
whatever policy.py returns over 100 episodes and writes the mean return to submission.txt.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import policy

ENV_ID = "InvertedPendulum-v5"
EPISODES = 100
MAX_STEPS = 1000
SUBMISSION_FILE = Path("submission.txt")


def checked(action: Any, space: gym.spaces.Box) -> np.ndarray:
    """The action as the grader takes it; ValueError where the grader would reject it.

    The grader takes real numbers of the space's shape, converted to its dtype, every one
    within the bounds: it does not clip, and a NaN or an out-of-bounds value makes the whole
    submission invalid. Clip in your policy.
    """
    values = np.asarray(action)
    if values.dtype.kind not in "iuf" or values.shape != space.shape:
        raise ValueError(f"the policy returned {action!r}, not {space.shape} real numbers")
    values = values.astype(space.dtype)
    if not space.contains(values):
        raise ValueError(f"the policy returned {action!r}, outside the bounds of {space}")
    return values


def run_episode(env: gym.Env, act: Callable[[np.ndarray], Any], seed: int) -> float:
    """Play one episode from a reset with `seed`; return the sum of its rewards."""
    env.action_space.seed(seed)  # makes a random policy repeatable
    reset = getattr(act, "reset", None)
    if callable(reset):
        reset()  # as the grader does before every episode
    observation, _ = env.reset(seed=seed)
    total = 0.0
    while True:
        action = checked(act(observation), env.action_space)
        observation, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if terminated or truncated:  # truncated: the MAX_STEPS cap
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
    # example with np.savez), and change policy.py so that load() reads them back.
    # ------------------------------------------------------------------------------------

    mean_return = evaluate()
    print(f"mean return over {EPISODES} episodes: {mean_return:.2f}")
    SUBMISSION_FILE.write_text(f"{mean_return}\n")


if __name__ == "__main__":
    main()
