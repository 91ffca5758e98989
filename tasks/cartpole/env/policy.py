"""The policy that is scored: `load` builds it, the grader calls it once per step.

The grader imports this file, calls `load(observation_space, action_space)` once, then calls
the returned function with each observation (a numpy array of 4 floats) and expects an
action in the action space: 0 (push left) or 1 (push right). Anything the policy needs, such
as saved weights, can be read here with paths relative to this folder. If the returned object
also has a `reset()` method, the grader calls it before every episode.

The starter policy ignores the observation and acts at random.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np


def load(observation_space: gym.Space, action_space: gym.Space) -> Callable[[np.ndarray], int]:
    """Return a function from an observation to an action."""

    def act(observation: np.ndarray) -> int:
        return int(action_space.sample())

    return act
