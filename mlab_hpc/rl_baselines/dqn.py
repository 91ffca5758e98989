"""Deep Q-learning for Atari games (NoFrameskip environments), with a target network.

The game is played as ``policy_files/atari_policy.py`` plays it when graded: one decision every
4 frames (the action repeated), the maximum of the last two frames, cropped, grey, 80 x 80, four
decisions stacked. Training clips rewards to their sign, starts episodes with up to 30 no-ops,
explores epsilon-greedily (linearly from 1 to 0.01 over the first tenth of training) and learns
from a replay buffer with the Huber loss. ``total_steps`` counts decisions (4 frames each).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from .common import Progress, make_env, seed_everything, torch_device, write_workspace
from .evaluation import evaluate_workspace
from .policy_files.atari_policy import FRAME_SKIP, SIZE, STACK, q_network, q_values, small_grey

NOOP = 0


@dataclass(frozen=True)
class DQNConfig:
    """Settings of one DQN training run (defaults: the usual ones for Pong)."""

    env_id: str
    total_steps: int
    env_modules: tuple[str, ...] = ("ale_py",)
    buffer_size: int = 100_000
    learning_starts: int = 10_000
    batch_size: int = 32
    gamma: float = 0.99
    learning_rate: float = 1e-4
    train_every: int = 4
    target_every: int = 1_000
    epsilon_final: float = 0.01
    exploration_fraction: float = 0.1
    noop_max: int = 30
    eval_episodes: int = 3
    eval_max_steps: int = 10_000  # frames
    seed: int = 0
    device: str = "auto"


class Frames:
    """A NoFrameskip game seen as the player sees it: stacks of small grey frames."""

    def __init__(self, env: gym.Env, noop_max: int, rng: np.random.Generator) -> None:
        self.env, self.noop_max, self.rng = env, noop_max, rng
        self.stack: list[np.ndarray] = []

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start an episode with a random number of no-ops; the first stack."""
        frame, _ = self.env.reset(seed=seed)
        for _ in range(int(self.rng.integers(0, self.noop_max + 1))):
            frame, _, terminated, truncated, _ = self.env.step(NOOP)
            if terminated or truncated:
                frame, _ = self.env.reset()
        self.stack = [small_grey(frame)] * STACK
        return np.stack(self.stack)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        """Repeat ``action`` for 4 frames: (next stack, summed reward, terminated, truncated)."""
        total, previous, frame = 0.0, None, None
        terminated = truncated = False
        for _ in range(FRAME_SKIP):
            previous = frame
            frame, reward, terminated, truncated, _ = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        assert frame is not None
        pooled = frame if previous is None else np.maximum(frame, previous)
        self.stack = self.stack[1:] + [small_grey(pooled)]
        return np.stack(self.stack), total, terminated, truncated


class StackReplay:
    """Transitions stored as (stack, action, reward, newest frame, terminal), all uint8 images.

    The next stack is the stack without its oldest frame plus the newest, so each transition
    costs 5 frames rather than 8.
    """

    def __init__(self, size: int) -> None:
        self.stacks = np.zeros((size, STACK, SIZE, SIZE), dtype=np.uint8)
        self.newest = np.zeros((size, SIZE, SIZE), dtype=np.uint8)
        self.actions = np.zeros(size, dtype=np.int64)
        self.rewards = np.zeros(size, dtype=np.float32)
        self.terminal = np.zeros(size, dtype=np.float32)
        self.size, self.count, self.index = size, 0, 0

    def add(
        self, stack: np.ndarray, action: int, reward: float, next_stack: np.ndarray, done: bool
    ) -> None:
        """Store one transition, over the oldest once the buffer is full."""
        i = self.index
        self.stacks[i], self.newest[i] = stack, next_stack[-1]
        self.actions[i], self.rewards[i], self.terminal[i] = action, reward, float(done)
        self.index = (i + 1) % self.size
        self.count = min(self.count + 1, self.size)

    def batch(self, n: int, device: torch.device) -> list[torch.Tensor]:
        """A uniform random batch: stacks, actions, rewards, next stacks, terminal flags."""
        idx = np.random.randint(0, self.count, size=n)
        stacks = self.stacks[idx]
        following = np.concatenate([stacks[:, 1:], self.newest[idx][:, None]], axis=1)
        arrays = (stacks, self.actions[idx], self.rewards[idx], following, self.terminal[idx])
        return [torch.as_tensor(a, device=device) for a in arrays]


def train(config: DQNConfig, out: Path) -> dict[str, Any]:
    """Train with DQN, write the player workspace to ``out``; returns a summary."""
    seed_everything(config.seed)
    device = torch_device(config.device)
    env = make_env(config.env_id, config.env_modules)
    assert isinstance(env.action_space, gym.spaces.Discrete), "DQN needs discrete actions"
    n_actions = int(env.action_space.n)
    rng = np.random.default_rng(config.seed)
    game = Frames(env, config.noop_max, rng)
    online = q_network(n_actions).to(device)
    target = q_network(n_actions).to(device)
    target.load_state_dict(online.state_dict())
    optimizer = torch.optim.Adam(online.parameters(), lr=config.learning_rate)
    replay = StackReplay(min(config.buffer_size, config.total_steps))
    explore_steps = max(1, int(config.exploration_fraction * config.total_steps))

    stack = game.reset(seed=config.seed)
    episode_return, finished = 0.0, []
    progress = Progress(config.total_steps)
    for step in range(config.total_steps):
        epsilon = max(config.epsilon_final, 1.0 - step / explore_steps * (1 - config.epsilon_final))
        if rng.random() < epsilon:
            action = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                action = int(q_values(online, stack[None]).argmax(dim=1).item())
        next_stack, reward, terminated, truncated = game.step(action)
        replay.add(stack, action, float(np.sign(reward)), next_stack, terminated)
        episode_return += reward
        stack = next_stack
        if terminated or truncated:
            finished.append(episode_return)
            episode_return = 0.0
            stack = game.reset()

        if step >= config.learning_starts and step % config.train_every == 0:
            stacks, actions, rewards, following, terminal = replay.batch(config.batch_size, device)
            with torch.no_grad():
                best_next = q_values(target, following).max(dim=1).values
                goal = rewards + config.gamma * (1.0 - terminal) * best_next
            chosen = q_values(online, stacks).gather(1, actions[:, None]).squeeze(1)
            loss = F.smooth_l1_loss(chosen, goal)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(online.parameters(), 10.0)
            optimizer.step()
        if step % config.target_every == 0:
            target.load_state_dict(online.state_dict())
        progress(step + 1, finished, epsilon=epsilon)
    env.close()

    weights = {key: value.detach().cpu().numpy() for key, value in online.state_dict().items()}
    info: dict[str, Any] = {
        "algorithm": "DQN",
        "config": asdict(config),
        "decisions": config.total_steps,
        "frames": config.total_steps * FRAME_SKIP,
    }
    write_workspace(out, "atari_policy.py", weights, info)
    info["eval_returns"] = evaluate_workspace(
        out, config.env_id, config.eval_episodes, config.env_modules, config.eval_max_steps
    )
    write_workspace(out, "atari_policy.py", weights, info)
    return info
