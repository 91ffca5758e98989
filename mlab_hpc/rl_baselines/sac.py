"""Soft actor-critic for box action spaces: twin Q-networks, target networks, tuned entropy.

The actor outputs a Gaussian over an unbounded action, squashed by tanh into [-1, 1] and
scaled to the action bounds. The first ``learning_starts`` steps act uniformly at random. The
trained actor's mean is written as ``policy_files/mlp_policy.py`` + weights.npz (head "tanh").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .common import Progress, flat_size, make_env, seed_everything, torch_device, write_workspace
from .evaluation import evaluate_workspace
from .ppo import linear_layers, mlp

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


@dataclass(frozen=True)
class SACConfig:
    """Settings of one SAC training run (defaults: the usual ones for MuJoCo locomotion)."""

    env_id: str
    total_steps: int
    learning_starts: int = 10_000
    buffer_size: int = 1_000_000
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    learning_rate: float = 3e-4
    hidden: tuple[int, ...] = (256, 256)
    eval_episodes: int = 10
    seed: int = 0
    device: str = "auto"


class Actor(nn.Module):
    """Observation -> mean and log standard deviation of the pre-tanh action."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.trunk = mlp([obs_dim, *hidden], nn.ReLU)
        self.trunk.append(nn.ReLU())
        self.mean = nn.Linear(hidden[-1], act_dim)
        self.log_std = nn.Linear(hidden[-1], act_dim)

    def sample(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A squashed action in [-1, 1] per observation, and its log-probability."""
        features = self.trunk(observations)
        mean = self.mean(features)
        log_std = self.log_std(features).clamp(LOG_STD_MIN, LOG_STD_MAX)
        pre = mean + log_std.exp() * torch.randn_like(mean)
        action = torch.tanh(pre)
        gaussian = -0.5 * (
            ((pre - mean) / log_std.exp()) ** 2 + 2 * log_std + math.log(2 * math.pi)
        )
        log_prob = (gaussian - torch.log(1 - action.pow(2) + 1e-6)).sum(-1)
        return action, log_prob


class Replay:
    """A ring buffer of transitions (observation, squashed action, reward, next, terminal)."""

    def __init__(self, size: int, obs_dim: int, act_dim: int) -> None:
        self.obs = np.zeros((size, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((size, obs_dim), dtype=np.float32)
        self.actions = np.zeros((size, act_dim), dtype=np.float32)
        self.rewards = np.zeros(size, dtype=np.float32)
        self.terminal = np.zeros(size, dtype=np.float32)
        self.size, self.count, self.index = size, 0, 0

    def add(self, obs: Any, action: Any, reward: float, next_obs: Any, terminal: bool) -> None:
        """Store one transition, over the oldest once the buffer is full."""
        i = self.index
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminal[i] = next_obs, float(terminal)
        self.index = (i + 1) % self.size
        self.count = min(self.count + 1, self.size)

    def batch(self, n: int, device: torch.device) -> list[torch.Tensor]:
        """A uniform random batch, as tensors on ``device``."""
        idx = np.random.randint(0, self.count, size=n)
        arrays = (self.obs, self.actions, self.rewards, self.next_obs, self.terminal)
        return [torch.as_tensor(a[idx], device=device) for a in arrays]


def train(config: SACConfig, out: Path) -> dict[str, Any]:
    """Train with SAC, write the policy workspace to ``out``; returns a summary."""
    seed_everything(config.seed)
    device = torch_device(config.device)
    env = make_env(config.env_id)
    space = env.action_space
    assert isinstance(space, gym.spaces.Box), "SAC needs a box action space"
    obs_dim = flat_size(env.observation_space)
    act_dim = flat_size(space)
    scale, centre = (space.high - space.low) / 2.0, (space.high + space.low) / 2.0

    actor = Actor(obs_dim, act_dim, config.hidden).to(device)
    critics = [mlp([obs_dim + act_dim, *config.hidden, 1], nn.ReLU).to(device) for _ in range(2)]
    targets = [mlp([obs_dim + act_dim, *config.hidden, 1], nn.ReLU).to(device) for _ in range(2)]
    for critic, target in zip(critics, targets, strict=True):
        target.load_state_dict(critic.state_dict())
    log_alpha = torch.zeros(1, device=device, requires_grad=True)
    target_entropy = -float(act_dim)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=config.learning_rate)
    critic_opt = torch.optim.Adam(
        [p for c in critics for p in c.parameters()], lr=config.learning_rate
    )
    alpha_opt = torch.optim.Adam([log_alpha], lr=config.learning_rate)
    replay = Replay(min(config.buffer_size, config.total_steps), obs_dim, act_dim)

    def q(nets: list[nn.Sequential], obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        joined = torch.cat([obs, act], dim=-1)
        return torch.min(nets[0](joined), nets[1](joined)).squeeze(-1)

    observation, _ = env.reset(seed=config.seed)
    episode_return, finished = 0.0, []
    progress = Progress(config.total_steps)
    for step in range(config.total_steps):
        if step < config.learning_starts:
            squashed = np.random.uniform(-1.0, 1.0, size=act_dim).astype(np.float32)
        else:
            with torch.no_grad():
                obs_t = torch.as_tensor(observation, dtype=torch.float32, device=device)
                squashed = actor.sample(obs_t[None])[0][0].cpu().numpy()
        env_action = np.clip(centre + scale * squashed, space.low, space.high).astype(space.dtype)
        next_obs, reward, terminated, truncated, _ = env.step(env_action)
        replay.add(observation, squashed, float(reward), next_obs, terminated)
        episode_return += float(reward)
        observation = next_obs
        if terminated or truncated:
            finished.append(episode_return)
            episode_return = 0.0
            observation, _ = env.reset()

        if step >= config.learning_starts:
            obs_b, act_b, rew_b, next_b, term_b = replay.batch(config.batch_size, device)
            alpha = log_alpha.exp().detach()
            with torch.no_grad():
                next_act, next_logp = actor.sample(next_b)
                soft = q(targets, next_b, next_act) - alpha * next_logp
                goal = rew_b + config.gamma * (1.0 - term_b) * soft
            joined = torch.cat([obs_b, act_b], dim=-1)
            critic_loss = sum(F.mse_loss(c(joined).squeeze(-1), goal) for c in critics)
            critic_opt.zero_grad()
            critic_loss.backward()  # type: ignore[union-attr]
            critic_opt.step()

            new_act, logp = actor.sample(obs_b)
            actor_loss = (alpha * logp - q(critics, obs_b, new_act)).mean()
            actor_opt.zero_grad()
            actor_loss.backward()
            actor_opt.step()

            alpha_loss = -(log_alpha * (logp.detach() + target_entropy)).mean()
            alpha_opt.zero_grad()
            alpha_loss.backward()
            alpha_opt.step()

            with torch.no_grad():
                for critic, target in zip(critics, targets, strict=True):
                    for p, p_target in zip(critic.parameters(), target.parameters(), strict=True):
                        p_target.mul_(1 - config.tau).add_(config.tau * p)
        progress(step + 1, finished, alpha=float(log_alpha.detach().exp()))
    env.close()

    weights = linear_layers(nn.Sequential(*actor.trunk, actor.mean))
    weights.update(
        activation="relu", head="tanh", obs_mean=np.zeros(obs_dim), obs_std=np.ones(obs_dim)
    )
    info: dict[str, Any] = {
        "algorithm": "SAC",
        "config": asdict(config),
        "env_steps": config.total_steps,
    }
    write_workspace(out, "mlp_policy.py", weights, info)
    info["eval_returns"] = evaluate_workspace(out, config.env_id, config.eval_episodes)
    write_workspace(out, "mlp_policy.py", weights, info)
    return info
