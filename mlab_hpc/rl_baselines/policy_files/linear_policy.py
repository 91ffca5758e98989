"""A linear policy stored in weights.npz: action = clip(matrix @ normalised observation).

Written by the ARS reference trainer of mlab-hpc. weights.npz holds obs_mean, obs_std and
matrix (actions x observations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

WEIGHTS = "weights.npz"  # relative to the workspace, the grader's working directory


def load(observation_space: Any, action_space: Any) -> Callable[[Any], Any]:
    """Return a function from an observation to an action."""
    data = np.load(WEIGHTS)
    matrix, mean, std = data["matrix"], data["obs_mean"], data["obs_std"]

    def act(observation: Any) -> Any:
        x = (np.asarray(observation, dtype=np.float64) - mean) / std
        action = np.clip(matrix @ x, action_space.low, action_space.high)
        return action.astype(action_space.dtype)

    return act
