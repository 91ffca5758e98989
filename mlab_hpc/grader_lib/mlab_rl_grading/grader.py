"""Play a workspace's policy in a child process; replay and score its actions in this one.

Used by ``tasks/<id>/scripts/eval.py`` of every RL task:

    TASK = RLTask(env_id="Pusher-v5", episodes=100, max_episode_steps=100, base_seed=..., ...)
    if __name__ == "__main__":
        main(TASK, __doc__)

The child process imports ``policy.py`` (cwd = the workspace), calls ``load`` once, and plays
every graded episode against its own environment. Before each episode it seeds the spaces it
gave the policy, ``random``, ``numpy.random`` and torch (when the policy imported it), so a
stochastic policy scores the same on every grading, and calls the policy's ``reset()`` when
the object ``load`` returned has one (a policy that remembers past frames). It checks each
action against the action space and sends the episode's actions to the parent as JSON: a list
of integers for a discrete space, one base64 block of the raw array for a box space.

The parent runs no agent code. It resets an untouched environment with the same seed, applies
the same no-op start (tasks with ``noop_max``), checks the actions again and steps them; the sum
of the rewards of this replay is the episode's return. A policy that patches the environment in
its own process therefore changes nothing but what it observes.

The submission is invalid, with a one-line reason, when policy.py is missing, fails to import,
has no ``load``, raises, exits, returns an action outside the action space, or when the child
runs past the task's time budget. The last number in the agent's ``submission.txt`` is reported
as ``agent_reported`` and never used as the score.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import importlib
import importlib.util
import json
import math
import os
import random
import reprlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

try:
    from mlab_untrusted import untrusted_command
except ModuleNotFoundError:  # imported as mlab_hpc.grader_lib.mlab_rl_grading (tests, by hand)
    from mlab_hpc.grader_lib.mlab_untrusted import untrusted_command

POLICY_NAME = "policy.py"
SUBMISSION_NAME = "submission.txt"
NOOP_ACTION = 0  # "do nothing" in the action sets of the Atari games
# Lowers the number of graded episodes, for smoke tests and benchmarks only. The harness never
# sets it, and the clean environment of its sandboxes would drop it if the caller's had it.
SMOKE_EPISODES_VARIABLE = "MLAB_RL_SMOKE_EPISODES"


@dataclass(frozen=True)
class RLTask:
    """What a grader needs to know about a task's environment and its grading.

    ``env_modules`` are imported (and their environments registered with gymnasium) before
    ``gym.make``: ``("ale_py",)`` for the Atari games. ``noop_max`` > 0 starts every episode
    with 0 to ``noop_max`` no-op actions, the number drawn from the episode's seed, before the
    policy is first called; they count toward ``max_episode_steps``.
    """

    env_id: str
    episodes: int
    max_episode_steps: int
    base_seed: int  # episode i is reset with base_seed + i
    time_budget_s: float  # for the child's start, load() and all episodes together
    env_modules: tuple[str, ...] = ()
    noop_max: int = 0
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def seeds(self, episodes: int | None = None) -> list[int]:
        """The reset seed of each graded episode (the first ``episodes`` of them)."""
        count = self.episodes if episodes is None else episodes
        return [self.base_seed + episode for episode in range(count)]


class InvalidSubmission(Exception):
    """The workspace cannot be scored; the message is the one-line reason."""


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so that a reason fits on one line, and cut it to ``limit`` chars."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def make_env(task: RLTask) -> gym.Env:
    """The task's environment, with its step cap."""
    for name in task.env_modules:
        module = importlib.import_module(name)
        gym.register_envs(module)
    return gym.make(task.env_id, max_episode_steps=task.max_episode_steps, **task.env_kwargs)


def noop_count(task: RLTask, seed: int) -> int:
    """How many no-op actions start the episode reset with ``seed``."""
    if task.noop_max <= 0:
        return 0
    return int(np.random.default_rng(seed).integers(0, task.noop_max + 1))


def start_episode(env: gym.Env, task: RLTask, seed: int) -> tuple[Any, float, int, bool]:
    """Reset with ``seed`` and play the no-op start: (observation, reward, steps, ended)."""
    observation, _ = env.reset(seed=seed)
    total = 0.0
    steps = 0
    for _ in range(noop_count(task, seed)):
        observation, reward, terminated, truncated, _ = env.step(NOOP_ACTION)
        total += float(reward)
        steps += 1
        if terminated or truncated:
            return observation, total, steps, True
    return observation, total, steps, False


_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = 8
_short.maxtuple = 8


def _describe(action: Any) -> str:
    """A short text for an action, for reasons: its value (cut) and its type."""
    if isinstance(action, np.ndarray):
        text = np.array2string(action, threshold=8, edgeitems=3, max_line_width=10_000)
        return f"{one_line(text, 80)} (type ndarray, dtype {action.dtype})"
    return f"{_short.repr(action)} (type {type(action).__name__})"


def check_action(action: Any, space: gym.Space) -> Any:
    """The action as the environment gets it, or InvalidSubmission saying what is wrong.

    Discrete spaces take exactly what ``space.contains`` takes (an int, not 1.0). Box spaces
    take any array-like of real numbers with the space's shape, converted to the space's dtype,
    and every value within the bounds: a NaN or a value out of bounds is invalid, not clipped.
    """
    if isinstance(space, gym.spaces.Discrete):
        if not space.contains(action):
            raise InvalidSubmission(
                f"the policy returned {_describe(action)}, which is not in the action space {space}"
            )
        return int(action)
    if isinstance(space, gym.spaces.Box):
        problem = ""
        try:
            values = np.asarray(action)
        except Exception as error:  # a CUDA tensor, a ragged list, ...
            values = None
            problem = f"not convertible to an array ({type(error).__name__})"
        if values is not None:
            if values.dtype.kind not in "iuf":
                problem = f"not real numbers (dtype {values.dtype})"
            elif values.shape != space.shape:
                problem = f"shape {values.shape} instead of {space.shape}"
            else:
                values = values.astype(space.dtype)
                if not np.all(np.isfinite(values)):
                    problem = "contains NaN or infinity"
                elif not space.contains(values):
                    problem = "values outside the bounds (clip them)"
        if problem:
            raise InvalidSubmission(
                f"the policy returned {_describe(action)}, which is not in the action space "
                f"{space}: {problem}"
            )
        return values
    raise TypeError(f"the RL grader does not support action spaces like {space}")


def encode_actions(actions: list[Any], space: gym.Space) -> Any:
    """One episode's checked actions as a JSON value."""
    if isinstance(space, gym.spaces.Discrete):
        return [int(action) for action in actions]
    block = np.empty((len(actions), *(space.shape or ())), dtype=space.dtype)
    for row, action in enumerate(actions):
        block[row] = action
    return {
        "dtype": block.dtype.str,
        "shape": list(block.shape),
        "base64": base64.b64encode(block.tobytes()).decode("ascii"),
    }


def decode_actions(encoded: Any, space: gym.Space, episode: int) -> Sequence[Any] | np.ndarray:
    """The actions an encode_actions() value stands for; InvalidSubmission if any is not valid."""
    garbled = InvalidSubmission(f"the policy's process sent garbled actions (episode {episode})")
    outside = InvalidSubmission(
        f"the policy's process sent an action outside the action space (episode {episode})"
    )
    if isinstance(space, gym.spaces.Discrete):
        if not isinstance(encoded, list):
            raise garbled
        if not all(type(a) is int and space.contains(a) for a in encoded):
            raise outside
        return encoded
    if isinstance(space, gym.spaces.Box):
        try:
            dtype = np.dtype(encoded["dtype"])
            shape = tuple(int(n) for n in encoded["shape"])
            raw = base64.b64decode(encoded["base64"], validate=True)
            block = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        except (KeyError, TypeError, ValueError):
            raise garbled from None
        if dtype != space.dtype or block.shape[1:] != space.shape:
            raise garbled
        inside = np.all(np.isfinite(block)) and np.all((block >= space.low) & (block <= space.high))
        if not inside:
            raise outside
        return block
    raise TypeError(f"the RL grader does not support action spaces like {space}")


# --- the child process: runs the agent's code --------------------------------------------


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
    """Import policy.py from ``workspace`` and call its load(); raises InvalidSubmission."""
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


def play_episode(
    env: gym.Env, task: RLTask, act: Callable[[Any], Any], seed: int, episode: int
) -> list[Any]:
    """Child side: the checked actions of one episode; raises InvalidSubmission."""
    seed_policy_randomness(seed, (env.observation_space, env.action_space))
    reset = getattr(act, "reset", None)
    if callable(reset):  # a policy with memory (frame stacks, recurrent state) starts afresh
        try:
            reset()
        except (Exception, SystemExit) as error:
            raise InvalidSubmission(
                one_line(
                    f"the policy's reset() raised {type(error).__name__}: {error} "
                    f"(episode {episode})"
                )
            ) from None
    observation, _, steps, ended = start_episode(env, task, seed)
    actions: list[Any] = []
    while not ended:
        try:
            raw = act(observation)
        except (Exception, SystemExit) as error:  # agent code may raise anything
            raise InvalidSubmission(
                one_line(
                    f"the policy raised {type(error).__name__}: {error} "
                    f"(episode {episode}, step {steps})"
                )
            ) from None
        try:
            action = check_action(raw, env.action_space)
        except InvalidSubmission as invalid:
            raise InvalidSubmission(
                one_line(f"{invalid} (episode {episode}, step {steps})")
            ) from None
        actions.append(action)
        observation, _, terminated, truncated, _ = env.step(action)
        steps += 1
        ended = terminated or truncated
    return actions


def play(connection: Connection, workspace: str, task: RLTask, seeds: list[int]) -> None:
    """Child process: load the policy and play every episode.

    Sends one JSON message per episode, ``{"actions": ...}``, or ``{"error": "reason"}`` and
    stops.
    """
    sys.dont_write_bytecode = True  # the workspace is read-only: leave no __pycache__ there
    sys.path.insert(0, workspace)  # policy.py may import its neighbours
    os.chdir(workspace)  # the policy reads its files with paths relative to the workspace
    env = make_env(task)
    try:
        act = load_policy(Path(workspace), (env.observation_space, env.action_space))
        for episode, seed in enumerate(seeds):
            actions = play_episode(env, task, act, seed, episode)
            message = {"actions": encode_actions(actions, env.action_space)}
            connection.send_bytes(json.dumps(message).encode())
    except InvalidSubmission as invalid:
        with contextlib.suppress(OSError):
            connection.send_bytes(json.dumps({"error": str(invalid)}).encode())
    except OSError:
        pass  # the parent stopped listening (time-out or invalid actions): nothing to add


# The child's command: reads one JSON line (the parent's sys.path, this module's name and the
# arguments of play()) from stdin, then plays, sending its messages on the inherited pipe fd.
CHILD_CODE = (
    "import importlib, json, sys\n"
    "request = json.loads(sys.stdin.readline())\n"
    "sys.path[:0] = request['sys_path']\n"
    "importlib.import_module(request['module']).child_main(request)\n"
)


def child_main(request: dict[str, Any]) -> None:
    """Entry point of the policy's process (started by :func:`evaluate` with CHILD_CODE)."""
    fields = dict(request["task"])
    fields["env_modules"] = tuple(fields.get("env_modules") or ())
    task = RLTask(**fields)
    connection = Connection(int(request["fd"]), readable=False)
    play(connection, request["workspace"], task, list(request["seeds"]))


# --- the parent process: owns the score, runs no agent code ------------------------------


def replay_episode(
    env: gym.Env, task: RLTask, seed: int, episode: int, actions: Sequence[Any] | np.ndarray
) -> tuple[float, int]:
    """Parent side: the return and length of ``actions`` played from a reset with ``seed``."""
    _, total, steps, ended = start_episode(env, task, seed)
    for action in actions:
        if ended:
            break  # the child's environment went on longer than the real one: score the real one
        _, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        steps += 1
        ended = terminated or truncated
    if not ended:
        raise InvalidSubmission(
            f"the policy's process sent {len(actions)} actions for episode {episode}, "
            "which does not finish it"
        )
    if not math.isfinite(total):
        raise InvalidSubmission(f"episode {episode} has a non-finite return {total}")
    return total, steps


def receive(
    connection: Connection,
    deadline: float,
    budget_s: float,
    process: subprocess.Popen[bytes],
    episode: int,
) -> Any:
    """The child's encoded actions for ``episode``; InvalidSubmission on error or time-out."""
    when = f"before the end of episode {episode}"
    try:
        if not connection.poll(max(deadline - time.monotonic(), 0.0)):
            raise InvalidSubmission(
                f"the policy ran past the grader's {budget_s:.0f} s budget ({when})"
            )
        message = json.loads(connection.recv_bytes())
    except (EOFError, OSError):
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        raise InvalidSubmission(
            f"the policy's process exited with code {process.returncode} ({when})"
        ) from None
    except ValueError:
        raise InvalidSubmission(f"the policy's process sent a garbled message ({when})") from None
    if isinstance(message, dict) and "error" in message:
        raise InvalidSubmission(one_line(str(message["error"])))
    if not isinstance(message, dict) or "actions" not in message:
        raise InvalidSubmission(f"the policy's process sent a garbled message ({when})")
    return message["actions"]


def evaluate(
    workspace: Path, task: RLTask, episodes: int, hide: Sequence[Path] = ()
) -> list[tuple[float, int]]:
    """(return, length) of the workspace's policy in each graded episode, replayed here.

    The parent replays episode i while the child plays episode i + 1. The child (the agent's
    code) runs in a nested sandbox (mlab_untrusted) that cannot see the folders in ``hide``
    (the grader's output folder, the answer folder) and can write only a scratch folder of its
    own; its PID namespace is killed, every descendant with it, before this returns.
    """
    env = make_env(task)  # before the child: a grader that cannot make it fails, not the agent
    seeds = task.seeds(episodes)
    deadline = time.monotonic() + task.time_budget_s
    scratch = Path(tempfile.mkdtemp(prefix="mlab-policy-"))
    read_fd, write_fd = os.pipe()
    child = untrusted_command(
        [sys.executable, "-c", CHILD_CODE], hide=hide, scratch=scratch / "tmp", cwd=workspace
    )
    request = {
        "sys_path": [p for p in sys.path if p],
        "module": __name__,
        "task": dataclasses.asdict(task),
        "workspace": str(workspace),
        "seeds": seeds,
        "fd": write_fd,
    }
    process = subprocess.Popen(
        child.argv,
        env=child.env,
        cwd=workspace,
        stdin=subprocess.PIPE,
        pass_fds=(write_fd,),
        start_new_session=True,
    )
    os.close(write_fd)
    connection = Connection(read_fd, writable=False)
    assert process.stdin is not None
    with contextlib.suppress(OSError):
        process.stdin.write((json.dumps(request) + "\n").encode())
        process.stdin.close()
    finished = False
    try:
        results = []
        for episode, seed in enumerate(seeds):
            encoded = receive(connection, deadline, task.time_budget_s, process, episode)
            actions = decode_actions(encoded, env.action_space, episode)
            results.append(replay_episode(env, task, seed, episode, actions))
        finished = True
        return results
    finally:
        env.close()
        connection.close()
        try:
            process.wait(timeout=5 if finished else 0)  # a child that played to the end exits
        except subprocess.TimeoutExpired:
            pass
        # the whole session: the nested sandbox (its PID namespace dies with it) or, where no
        # nested sandbox could be made, every process the policy started in its session
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        process.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def read_agent_reported(workspace: Path) -> float | None:
    """The last number in the agent's submission.txt, or None."""
    try:
        words = (workspace / SUBMISSION_NAME).read_text().split()
        value = float(words[-1])
    except (OSError, UnicodeDecodeError, IndexError, ValueError):
        return None
    return value if math.isfinite(value) else None


def smoke_episodes(task: RLTask, environ: dict[str, str] | None = None) -> int:
    """The number of episodes to grade: the task's, or fewer when the smoke variable says so."""
    text = (os.environ if environ is None else environ).get(SMOKE_EPISODES_VARIABLE, "")
    if not text:
        return task.episodes
    try:
        count = int(text)
    except ValueError:
        raise SystemExit(f"{SMOKE_EPISODES_VARIABLE}={text!r} is not a whole number") from None
    if count < 1:
        raise SystemExit(f"{SMOKE_EPISODES_VARIABLE}={text!r} must be 1 or more")
    return min(count, task.episodes)


def grade(
    workspace: Path, task: RLTask, episodes: int | None = None, hide: Sequence[Path] = ()
) -> dict[str, Any]:
    """Grade one workspace; returns the grader's JSON document (docs/task-format.md).

    ``hide``: folders the policy's process must not see (the grader's output, the answers).
    """
    count = task.episodes if episodes is None else episodes
    agent_reported = read_agent_reported(workspace)
    try:
        if not (workspace / POLICY_NAME).is_file():
            raise InvalidSubmission(f"{POLICY_NAME} is missing from the workspace")
        results = evaluate(workspace, task, count, hide)
    except InvalidSubmission as invalid:
        return {
            "valid": False,
            "reason": str(invalid),
            "metrics": {},
            "agent_reported": agent_reported,
        }
    returns = np.array([total for total, _ in results])
    lengths = np.array([steps for _, steps in results])
    smoke = count < task.episodes
    return {
        "valid": True,
        "reason": f"smoke test: {count} of {task.episodes} episodes" if smoke else "",
        "metrics": {
            "mean_return": float(np.mean(returns)),
            "std_return": float(np.std(returns)),
            "mean_length": float(np.mean(lengths)),
            "episodes": float(count),
        },
        "agent_reported": agent_reported,
    }


def main(task: RLTask, description: str | None = None, argv: list[str] | None = None) -> None:
    """The grader's command line: ``--workspace WS --answers ANS --out OUT.json``."""
    summary = (description or "").strip().splitlines()
    parser = argparse.ArgumentParser(description=summary[0] if summary else None)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--answers", type=Path, required=True, help="unused: no answer key")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    out_dir = args.out.resolve().parent
    hide = [out_dir] + ([args.answers.resolve()] if args.answers.resolve().is_dir() else [])
    hide = [p for p in hide if not args.workspace.resolve().is_relative_to(p)]
    result = grade(args.workspace.resolve(), task, smoke_episodes(task), hide)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
