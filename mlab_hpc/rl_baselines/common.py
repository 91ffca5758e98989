"""What the reference trainers share: environments, seeding, evaluation, the output workspace."""

from __future__ import annotations

import argparse
import importlib
import json
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np

POLICY_FILES = Path(__file__).with_name("policy_files")
WEIGHTS_NAME = "weights.npz"

Config = TypeVar("Config")


def make_env(env_id: str, env_modules: tuple[str, ...] = (), **kwargs: Any) -> gym.Env:
    """A gymnasium environment; ``env_modules`` are imported and registered first (ale_py)."""
    for name in env_modules:
        gym.register_envs(importlib.import_module(name))
    return gym.make(env_id, **kwargs)


def flat_size(space: gym.Space) -> int:
    """The number of values in one element of ``space`` (observation or action)."""
    assert space.shape is not None, f"{space} has no shape"
    return int(np.prod(space.shape))


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and (when it is imported) torch's generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


class RunningNorm:
    """Running mean and variance of observations (parallel Welford), for normalising inputs."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = 1e-4

    def update(self, batch: np.ndarray) -> None:
        """Fold a batch of observations (first axis: samples) into the statistics."""
        batch_mean = batch.mean(axis=0)
        batch_var = batch.var(axis=0)
        n = batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        spread = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var = spread / total
        self.count = total

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var + 1e-8)

    def __call__(self, observation: np.ndarray) -> np.ndarray:
        """Normalised observations, clipped to [-10, 10] (as the policy files do)."""
        return np.clip((observation - self.mean) / self.std, -10.0, 10.0)


def write_workspace(
    out: Path, policy_file: str, weights: dict[str, Any], info: dict[str, Any]
) -> None:
    """Write out/policy.py (a file of policy_files/), out/weights.npz and out/training.json."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(POLICY_FILES / policy_file, out / "policy.py")
    arrays: dict[str, Any] = {k: np.asarray(v) for k, v in weights.items()}
    np.savez(out / WEIGHTS_NAME, **arrays)
    (out / "training.json").write_text(json.dumps(info, indent=2, default=str) + "\n")


class Progress:
    """Prints a line about training at most every ``every_s`` seconds."""

    def __init__(self, total_steps: int, every_s: float = 10.0) -> None:
        self.total_steps = total_steps
        self.every_s = every_s
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, steps: int, recent_returns: list[float], **extra: float) -> None:
        now = time.monotonic() - self.start
        if now - self.last < self.every_s and steps < self.total_steps:
            return
        self.last = now
        mean = f"{np.mean(recent_returns[-20:]):.1f}" if recent_returns else "-"
        details = " ".join(f"{k}={v:.3g}" for k, v in extra.items())
        print(
            f"{steps}/{self.total_steps} steps, {now:.0f} s, "
            f"mean return (last 20) {mean} {details}",
            flush=True,
        )


def override(config: Config, assignments: list[str]) -> Config:
    """``config`` with fields replaced by ``name=value`` strings (values parsed as JSON)."""
    kinds = {f.name: f.type for f in fields(config)}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for assignment in assignments:
        name, _, text = assignment.partition("=")
        if name not in kinds:
            raise SystemExit(f"--set {assignment}: no setting {name!r}; settings: {sorted(kinds)}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text  # a bare word, such as a device name
        changes[name] = tuple(value) if isinstance(value, list) else value
    return replace(config, **changes)  # type: ignore[type-var]


def command_line(
    train: Callable[[Config, Path], dict[str, Any]], config: Config, description: str | None
) -> None:
    """The command line of a tasks/<id>/baselines/human.py script.

    ``--out DIR`` (required) receives the workspace; ``--total-steps``, ``--seed``, ``--device``
    and ``--set name=value`` (any setting, repeatable) override the script's configuration. A
    smoke test runs a few hundred steps, with learning starting early.
    """
    parser = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for policy.py + weights")
    parser.add_argument("--total-steps", type=int, default=None, help="environment steps")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda (default: auto)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="any other setting"
    )
    args = parser.parse_args()
    assignments = list(args.set)
    if args.total_steps is not None:
        assignments.append(f"total_steps={args.total_steps}")
    if args.seed is not None:
        assignments.append(f"seed={args.seed}")
    if args.device is not None:
        assignments.append(f"device={args.device}")
    info = train(override(config, assignments), args.out)
    summary = {k: v for k, v in info.items() if k != "config"}
    print(json.dumps(summary, indent=1, default=str))


def torch_device(name: str) -> Any:
    """The torch device called ``name``; "auto" picks CUDA when there is one."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
