"""An Atari player: a Q-network over stacks of small grey frames, acting every 4th frame.

Written by the DQN reference trainer of mlab-hpc. The grader calls the policy on every frame
(NoFrameskip environments); the player chooses an action on every 4th call and repeats it in
between, as the network was trained. A decision sees the pixel-wise maximum of the last two
frames (the screen flickers), cropped to the playing field, turned grey and halved to 80 x 80,
stacked with the three decisions before it. The player keeps that history, so it has a reset()
that the grader calls before every episode.

weights.npz holds the network's parameters as arrays named like its state_dict keys.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

WEIGHTS = "weights.npz"  # relative to the workspace, the grader's working directory
FRAME_SKIP = 4  # frames per decision
STACK = 4  # decisions per network input
SIZE = 80
GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def small_grey(frame: np.ndarray) -> np.ndarray:
    """A 210 x 160 RGB frame as an 80 x 80 grey image (uint8): rows 34-193, every 2 x 2 mean."""
    grey = frame[34:194].astype(np.float32) @ GREY
    return grey.reshape(SIZE, 2, SIZE, 2).mean(axis=(1, 3)).astype(np.uint8)


def q_network(actions: int) -> nn.Module:
    """The Q-network: three convolutions and two linear layers over a (4, 80, 80) stack."""
    return nn.Sequential(
        nn.Conv2d(STACK, 32, kernel_size=8, stride=4),
        nn.ReLU(),
        nn.Conv2d(32, 64, kernel_size=4, stride=2),
        nn.ReLU(),
        nn.Conv2d(64, 64, kernel_size=3, stride=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 6 * 6, 512),
        nn.ReLU(),
        nn.Linear(512, actions),
    )


def q_values(network: nn.Module, stacks: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Q-values of a batch of uint8 stacks (batch, 4, 80, 80)."""
    device = next(network.parameters()).device
    inputs = torch.as_tensor(stacks, device=device).float() / 255.0
    return network(inputs)


class Player:
    """The per-frame policy: keeps the frame history between the calls of one episode."""

    def __init__(self, network: nn.Module) -> None:
        self.network = network
        self.reset()

    def reset(self) -> None:
        """Forget the previous episode."""
        self.calls = 0
        self.previous: np.ndarray | None = None
        self.stack: list[np.ndarray] = []
        self.action = 0

    def __call__(self, observation: Any) -> int:
        frame = np.asarray(observation, dtype=np.uint8)
        if self.calls % FRAME_SKIP == 0:
            pooled = frame if self.previous is None else np.maximum(frame, self.previous)
            image = small_grey(pooled)
            self.stack = (self.stack or [image] * STACK)[1:] + [image]
            with torch.no_grad():
                values = q_values(self.network, np.stack(self.stack)[None])
            self.action = int(values.argmax(dim=1).item())
        self.previous = frame
        self.calls += 1
        return self.action


def load(observation_space: Any, action_space: Any) -> Player:
    """Return the player (a callable from a frame to an action, with reset())."""
    data = np.load(WEIGHTS)
    network = q_network(int(action_space.n))
    network.load_state_dict({key: torch.from_numpy(data[key]) for key in data.files})
    network.eval()
    return Player(network)
