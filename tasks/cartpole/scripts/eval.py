"""Grader for the cartpole task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Runs the workspace's policy (policy.py: `load(observation_space, action_space)` returns a
function from observation to action) on CartPole-v1 for 100 episodes, each reset with a seed
of the grader's own (the agent's train.py uses 0..99; these are different), capped at 500
steps. The metric `mean_return` is the mean of the 100 returns.

The child plays, the parent scores. The policy runs in a child process, with the workspace
as its working directory, against an environment of its own, and sends back each episode's
actions as JSON (never pickles). The parent never runs agent code: it replays every action
sequence in its own, untouched environment with the same seed, and the returns of that
replay are the score. Patching the environment from inside policy.py thus changes nothing.
Before every episode the child seeds the action space it gave the policy, `random` and
`numpy.random` (and torch, if the policy imported it), so a random policy scores the same
on every run.

The submission is invalid, with a one-line reason, when policy.py is missing, fails to
import or to load, raises, returns an action outside the action space, yields a non-finite
return, or when the episodes take longer than the time budget. The number in the agent's
submission.txt is recorded as `agent_reported`, never used as the score. ANS is unused.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

ENV_ID = "CartPole-v1"
EPISODES = 100
MAX_STEPS = 500
BASE_SEED = 4_718_305  # episode i is reset with BASE_SEED + i
TIME_BUDGET_S = 300.0  # for the child's start, load() and all episodes together
POLICY_NAME = "policy.py"
SUBMISSION_NAME = "submission.txt"


class InvalidSubmission(Exception):
    """The workspace cannot be scored; the message is the one-line reason."""


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so that a reason fits on one line, and cut it to `limit` chars."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def make_env() -> gym.Env:
    """The graded environment, with the task's step cap."""
    return gym.make(ENV_ID, max_episode_steps=MAX_STEPS)


def episode_seeds() -> list[int]:
    """The reset seed of every graded episode."""
    return [BASE_SEED + episode for episode in range(EPISODES)]


# --- the child process: runs the agent's code --------------------------------------------


def encode_action(action: Any) -> Any:
    """A JSON value for an action: a plain integer, or an array as values, dtype and shape."""
    if isinstance(action, int | np.integer):
        return int(action)
    values = np.asarray(action)
    return {"values": values.tolist(), "dtype": values.dtype.str, "shape": list(values.shape)}


def seed_policy_randomness(seed: int, spaces: tuple[gym.Space, gym.Space]) -> None:
    """Seed every source of randomness a policy is likely to draw from."""
    for space in spaces:
        space.seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def load_policy(workspace: Path, spaces: tuple[gym.Space, gym.Space]) -> Callable[[Any], Any]:
    """Import policy.py from `workspace` and call its load(); raises InvalidSubmission."""
    path = workspace / POLICY_NAME
    if not path.is_file():
        raise InvalidSubmission(f"{POLICY_NAME} is missing from the workspace")
    spec = importlib.util.spec_from_file_location("agent_policy", path)
    if spec is None or spec.loader is None:
        raise InvalidSubmission(f"{POLICY_NAME} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # agent code may raise anything
        raise InvalidSubmission(
            one_line(f"importing {POLICY_NAME} raised {type(error).__name__}: {error}")
        ) from None
    load = getattr(module, "load", None)
    if not callable(load):
        raise InvalidSubmission(
            f"{POLICY_NAME} defines no load(observation_space, action_space) function"
        )
    try:
        act = load(*spaces)
    except (Exception, SystemExit) as error:
        raise InvalidSubmission(
            one_line(
                f"load(observation_space, action_space) raised {type(error).__name__}: {error}"
            )
        ) from None
    if not callable(act):
        raise InvalidSubmission(f"load() returned a {type(act).__name__}, not a callable policy")
    return act


def play_episode(env: gym.Env, act: Callable[[Any], Any], seed: int, episode: int) -> list[Any]:
    """Child side: the encoded actions of one episode; raises InvalidSubmission."""
    seed_policy_randomness(seed, (env.observation_space, env.action_space))
    observation, _ = env.reset(seed=seed)
    actions: list[Any] = []
    for step in range(MAX_STEPS):
        try:
            action = act(observation)
        except (Exception, SystemExit) as error:  # agent code may raise anything
            raise InvalidSubmission(
                one_line(
                    f"the policy raised {type(error).__name__}: {error} "
                    f"(episode {episode}, step {step})"
                )
            ) from None
        if not env.action_space.contains(action):
            raise InvalidSubmission(
                one_line(
                    f"the policy returned {action!r} (type {type(action).__name__}), which is not "
                    f"in the action space {env.action_space} (episode {episode}, step {step})"
                )
            )
        actions.append(encode_action(action))
        observation, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    return actions


def play(connection: Connection, workspace: str, seeds: list[int]) -> None:
    """Child process: load the policy and play every episode.

    Sends one JSON message per episode, {"actions": [...]}, or {"error": "reason"} and stops.
    """
    sys.dont_write_bytecode = True  # the workspace is read-only: leave no __pycache__ there
    sys.path.insert(0, workspace)  # policy.py may import its neighbours
    os.chdir(workspace)  # the policy reads its files with paths relative to the workspace
    env = make_env()
    try:
        act = load_policy(Path(workspace), (env.observation_space, env.action_space))
        for episode, seed in enumerate(seeds):
            actions = play_episode(env, act, seed, episode)
            connection.send_bytes(json.dumps({"actions": actions}).encode())
    except InvalidSubmission as invalid:
        with contextlib.suppress(OSError):
            connection.send_bytes(json.dumps({"error": str(invalid)}).encode())
    except OSError:
        pass  # the parent stopped listening (time-out or invalid action): nothing to add


# --- the parent process: owns the score, runs no agent code ------------------------------


def decode_action(encoded: Any) -> Any:
    """The action an encode_action() value stands for; raises InvalidSubmission."""
    if isinstance(encoded, dict):
        try:
            dtype = np.dtype(encoded["dtype"])
            return np.asarray(encoded["values"], dtype=dtype).reshape(encoded["shape"])
        except (KeyError, TypeError, ValueError):
            raise InvalidSubmission("the policy's process sent a garbled action") from None
    return encoded


def replay_episode(env: gym.Env, seed: int, episode: int, actions: list[Any]) -> float:
    """Parent side: the return of `actions` played from a reset with `seed`."""
    env.reset(seed=seed)
    total = 0.0
    finished = False
    for encoded in actions:
        action = decode_action(encoded)
        if not env.action_space.contains(action):
            raise InvalidSubmission(
                one_line(f"the policy's process sent {action!r}, not an action (episode {episode})")
            )
        _, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if terminated or truncated:
            finished = True
            break
    if not finished:
        raise InvalidSubmission(
            f"the policy's process sent {len(actions)} actions for episode {episode}, "
            "which does not finish it"
        )
    if not math.isfinite(total):
        raise InvalidSubmission(f"episode {episode} has a non-finite return {total}")
    return total


def receive(
    connection: Connection, deadline: float, process: BaseProcess, episode: int
) -> list[Any]:
    """The child's actions for `episode`; raises InvalidSubmission on error or time-out."""
    when = f"before the end of episode {episode}"
    try:
        if not connection.poll(max(deadline - time.monotonic(), 0.0)):
            raise InvalidSubmission(
                f"the policy ran past the grader's {TIME_BUDGET_S:.0f} s budget ({when})"
            )
        message = json.loads(connection.recv_bytes())
    except (EOFError, OSError):
        process.join(timeout=5)
        raise InvalidSubmission(
            f"the policy's process exited with code {process.exitcode} ({when})"
        ) from None
    except ValueError:
        raise InvalidSubmission(f"the policy's process sent a garbled message ({when})") from None
    if isinstance(message, dict) and "error" in message:
        raise InvalidSubmission(one_line(str(message["error"])))
    if not isinstance(message, dict) or not isinstance(message.get("actions"), list):
        raise InvalidSubmission(f"the policy's process sent a garbled message ({when})")
    return message["actions"]


def evaluate(workspace: Path) -> list[float]:
    """Returns of the workspace's policy over the graded episodes, replayed here."""
    deadline = time.monotonic() + TIME_BUDGET_S
    seeds = episode_seeds()
    context = multiprocessing.get_context("spawn")
    connection, child_end = context.Pipe(duplex=False)
    process = context.Process(target=play, args=(child_end, str(workspace), seeds), daemon=True)
    process.start()
    child_end.close()
    env = make_env()
    finished = False
    try:
        returns = []
        for episode, seed in enumerate(seeds):
            actions = receive(connection, deadline, process, episode)
            returns.append(replay_episode(env, seed, episode, actions))
        finished = True
        return returns
    finally:
        env.close()
        connection.close()
        process.join(timeout=5 if finished else 0)  # a child that played to the end exits
        if process.is_alive():
            process.kill()
            process.join()


def read_agent_reported(workspace: Path) -> float | None:
    """The number in the agent's submission.txt (its last line), or None."""
    try:
        lines = (workspace / SUBMISSION_NAME).read_text().split()
        value = float(lines[-1])
    except (OSError, UnicodeDecodeError, IndexError, ValueError):
        return None
    return value if math.isfinite(value) else None


def grade(workspace: Path) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document."""
    agent_reported = read_agent_reported(workspace)
    try:
        if not (workspace / POLICY_NAME).is_file():
            raise InvalidSubmission(f"{POLICY_NAME} is missing from the workspace")
        returns = evaluate(workspace)
    except InvalidSubmission as invalid:
        return {
            "valid": False,
            "reason": str(invalid),
            "metrics": {},
            "agent_reported": agent_reported,
        }
    return {
        "valid": True,
        "reason": "",
        "metrics": {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns))},
        "agent_reported": agent_reported,
    }


def main() -> None:
    """Parse the command line, grade, write OUT.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True, help="unused: no answer key")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = grade(args.workspace.resolve())
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
