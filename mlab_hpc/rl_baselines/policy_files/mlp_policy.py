"""A policy network stored in weights.npz: normalised observation -> MLP -> action.

Written by the reference trainers of mlab-hpc (PPO, SAC). weights.npz holds:
  obs_mean, obs_std       observation normalisation (the input is clipped to [-10, 10])
  n_layers, w0, b0, ...   the layers (w: inputs x outputs), hidden activation `activation`
  activation              "tanh" or "relu"
  head                    "argmax" (discrete actions), "clip" (the output clipped to the
                          action bounds) or "tanh" (squashed into the bounds)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

WEIGHTS = "weights.npz"  # relative to the workspace, the grader's working directory


def load(observation_space: Any, action_space: Any) -> Callable[[Any], Any]:
    """Return a function from an observation to an action."""
    data = np.load(WEIGHTS)
    layers = [(data[f"w{i}"], data[f"b{i}"]) for i in range(int(data["n_layers"]))]
    hidden = np.tanh if str(data["activation"]) == "tanh" else (lambda x: np.maximum(x, 0.0))
    head = str(data["head"])
    mean, std = data["obs_mean"], data["obs_std"]
    low: Any = getattr(action_space, "low", None)
    high: Any = getattr(action_space, "high", None)

    def act(observation: Any) -> Any:
        x = np.clip((np.asarray(observation, dtype=np.float64) - mean) / std, -10.0, 10.0)
        for index, (weight, bias) in enumerate(layers):
            x = x @ weight + bias
            if index < len(layers) - 1:
                x = hidden(x)
        if head == "argmax":
            return int(np.argmax(x))
        if head == "tanh":
            x = low + (np.tanh(x) + 1.0) * 0.5 * (high - low)
        return np.clip(x, low, high).astype(action_space.dtype)

    return act
