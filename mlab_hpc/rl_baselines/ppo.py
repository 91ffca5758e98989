"""Proximal policy optimisation: clipped surrogate objective, GAE, separate actor and critic.

For discrete actions (a categorical policy) and box actions (a Gaussian with a learned,
state-independent standard deviation; the environment gets the sample clipped to the bounds).
Observations are normalised with running statistics, which are saved with the weights. The
trained actor is written as ``policy_files/mlp_policy.py`` + weights.npz: argmax of the logits,
or the Gaussian's mean clipped to the bounds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from .common import (
    Progress,
    RunningNorm,
    flat_size,
    make_env,
    seed_everything,
    torch_device,
    write_workspace,
)
from .evaluation import evaluate_workspace


@dataclass(frozen=True)
class PPOConfig:
    """Settings of one PPO training run (defaults suit small control tasks)."""

    env_id: str
    total_steps: int
    num_envs: int = 4
    rollout_steps: int = 512  # per environment and update
    epochs: int = 10
    minibatch_size: int = 64
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    learning_rate: float = 3e-4
    anneal_learning_rate: bool = False
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: tuple[int, ...] = (64, 64)
    normalize_observations: bool = True
    eval_episodes: int = 20
    seed: int = 0
    device: str = "auto"


def mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    """Linear layers of the given sizes with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if index < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def linear_layers(network: nn.Sequential) -> dict[str, Any]:
    """The Linear layers of ``network`` in the weights.npz layout of mlp_policy.py."""
    linears = [m for m in network if isinstance(m, nn.Linear)]
    arrays: dict[str, Any] = {"n_layers": len(linears)}
    for index, layer in enumerate(linears):
        arrays[f"w{index}"] = layer.weight.detach().cpu().numpy().T.astype(np.float64)
        arrays[f"b{index}"] = layer.bias.detach().cpu().numpy().astype(np.float64)
    return arrays


class ActorCritic(nn.Module):
    """A policy network and a value network, both MLPs with tanh activations."""

    def __init__(self, obs_dim: int, action_space: gym.Space, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if isinstance(action_space, gym.spaces.Discrete):
            outputs = int(action_space.n)
        else:
            outputs = flat_size(action_space)
        self.actor = mlp([obs_dim, *hidden, outputs], nn.Tanh)
        self.critic = mlp([obs_dim, *hidden, 1], nn.Tanh)
        self.log_std = nn.Parameter(torch.zeros(outputs), requires_grad=not self.discrete)
        # orthogonal weights, zero biases; a small last layer starts the policy near uniform
        for network, last_gain in ((self.actor, 0.01), (self.critic, 1.0)):
            linears = [m for m in network if isinstance(m, nn.Linear)]
            for layer in linears:
                gain = last_gain if layer is linears[-1] else math.sqrt(2.0)
                nn.init.orthogonal_(layer.weight, gain=gain)
                nn.init.zeros_(layer.bias)

    def distribution(self, observations: torch.Tensor) -> Distribution:
        """The action distribution at each observation."""
        out = self.actor(observations)
        if self.discrete:
            return Categorical(logits=out)
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)

    def value(self, observations: torch.Tensor) -> torch.Tensor:
        """The critic's estimate of each observation's value."""
        return self.critic(observations).squeeze(-1)


def train(config: PPOConfig, out: Path) -> dict[str, Any]:
    """Train with PPO, write the policy workspace to ``out``; returns a summary."""
    seed_everything(config.seed)
    device = torch_device(config.device)
    envs = [make_env(config.env_id) for _ in range(config.num_envs)]
    space = envs[0].action_space
    box = isinstance(space, gym.spaces.Box)
    low, high = (space.low, space.high) if isinstance(space, gym.spaces.Box) else (None, None)
    obs_shape = envs[0].observation_space.shape
    assert obs_shape is not None and len(obs_shape) == 1, "PPO here takes flat observations"
    model = ActorCritic(obs_shape[0], space, config.hidden).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=1e-5)
    norm = RunningNorm(obs_shape)

    def prepare(raw: np.ndarray) -> torch.Tensor:
        x = norm(raw) if config.normalize_observations else raw
        return torch.as_tensor(x, dtype=torch.float32, device=device)

    n, t_max = config.num_envs, config.rollout_steps
    raw_obs = np.stack([env.reset(seed=config.seed + i)[0] for i, env in enumerate(envs)])
    for i, env in enumerate(envs):
        env.action_space.seed(config.seed + i)
    episode_returns = np.zeros(n)
    finished: list[float] = []
    progress = Progress(config.total_steps)
    updates = math.ceil(config.total_steps / (n * t_max))
    steps = 0
    for update in range(updates):
        if config.anneal_learning_rate:
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * (1.0 - update / updates)
        obs_buf = torch.zeros((t_max, n, obs_shape[0]), device=device)
        act_buf: list[torch.Tensor] = []
        logp_buf = torch.zeros((t_max, n), device=device)
        value_buf = torch.zeros((t_max, n), device=device)
        reward_buf = torch.zeros((t_max, n), device=device)
        done_buf = torch.zeros((t_max, n), device=device)
        for t in range(t_max):
            if config.normalize_observations:
                norm.update(raw_obs)
            x = prepare(raw_obs)
            with torch.no_grad():
                dist = model.distribution(x)
                action = dist.sample()
                logp_buf[t] = dist.log_prob(action)
                value_buf[t] = model.value(x)
            obs_buf[t] = x
            act_buf.append(action)
            actions = action.cpu().numpy()
            for i, env in enumerate(envs):
                env_action = np.clip(actions[i], low, high) if box else int(actions[i])
                obs_i, reward, terminated, truncated, _ = env.step(env_action)
                reward = float(reward)
                episode_returns[i] += reward
                if truncated and not terminated:  # cut off by the time limit: bootstrap
                    with torch.no_grad():
                        reward += config.gamma * float(model.value(prepare(obs_i[None]))[0])
                if terminated or truncated:
                    finished.append(float(episode_returns[i]))
                    episode_returns[i] = 0.0
                    obs_i, _ = env.reset()
                reward_buf[t, i] = reward
                done_buf[t, i] = float(terminated or truncated)
                raw_obs[i] = obs_i
            steps += n
        with torch.no_grad():
            next_value = model.value(prepare(raw_obs))
        advantages = torch.zeros_like(reward_buf)
        running = torch.zeros(n, device=device)
        for t in reversed(range(t_max)):
            following = next_value if t == t_max - 1 else value_buf[t + 1]
            alive = 1.0 - done_buf[t]
            delta = reward_buf[t] + config.gamma * following * alive - value_buf[t]
            running = delta + config.gamma * config.gae_lambda * alive * running
            advantages[t] = running
        returns = advantages + value_buf

        flat_obs = obs_buf.reshape(t_max * n, -1)
        flat_act = torch.stack(act_buf).reshape(t_max * n, *act_buf[0].shape[1:])
        flat_logp, flat_adv = logp_buf.reshape(-1), advantages.reshape(-1)
        flat_ret = returns.reshape(-1)
        for _ in range(config.epochs):
            order = torch.randperm(t_max * n, device=device)
            for start in range(0, t_max * n, config.minibatch_size):
                idx = order[start : start + config.minibatch_size]
                dist = model.distribution(flat_obs[idx])
                ratio = (dist.log_prob(flat_act[idx]) - flat_logp[idx]).exp()
                adv = flat_adv[idx]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                clipped = ratio.clamp(1 - config.clip_range, 1 + config.clip_range)
                policy_loss = -torch.min(ratio * adv, clipped * adv).mean()
                value_loss = (model.value(flat_obs[idx]) - flat_ret[idx]).pow(2).mean()
                loss = (
                    policy_loss
                    + config.value_coef * value_loss
                    - config.entropy_coef * dist.entropy().mean()
                )
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
        progress(steps, finished, update=update + 1)

    for env in envs:
        env.close()
    weights = linear_layers(model.actor)
    weights.update(
        activation="tanh",
        head="clip" if box else "argmax",
        obs_mean=norm.mean if config.normalize_observations else np.zeros(obs_shape),
        obs_std=norm.std if config.normalize_observations else np.ones(obs_shape),
    )
    info: dict[str, Any] = {"algorithm": "PPO", "config": asdict(config), "env_steps": steps}
    write_workspace(out, "mlp_policy.py", weights, info)
    info["eval_returns"] = evaluate_workspace(out, config.env_id, config.eval_episodes)
    write_workspace(out, "mlp_policy.py", weights, info)
    return info
