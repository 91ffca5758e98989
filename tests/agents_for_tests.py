"""Agents used by the tests, loaded by the harness as ``tests.agents_for_tests:Name``."""

from __future__ import annotations

from mlab_hpc.agents import AgentContext
from mlab_hpc.environment import ActionCall, StepRecord


class ScriptedAgent:
    """Plays a fixed list of actions, then gives the final answer."""

    script: list[ActionCall] = []

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        self._queue = list(self.script[len(history) :])

    def act(self, last: StepRecord | None) -> ActionCall:
        return self._queue.pop(0) if self._queue else ActionCall("Final Answer", {})


class SlowAgent(ScriptedAgent):
    """Edits a file three times, then runs a script that sleeps (a run to kill mid-step)."""

    script = [
        ActionCall("Write File", {"file_name": "notes.txt", "content": "one"}),
        ActionCall("Append File", {"file_name": "notes.txt", "content": " two"}),
        ActionCall(
            "Write File",
            {
                "file_name": "sleep.py",
                "content": "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n",
            },
        ),
        ActionCall("Execute Script", {"script_name": "sleep.py"}),
    ]


class BrokenAgent:
    """Raises from act() after one step: the run must still be graded, as failed."""

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        self.n = 0

    def act(self, last: StepRecord | None) -> ActionCall:
        self.n += 1
        if self.n > 1:
            raise ValueError("the agent's own bug")
        return ActionCall("List Files", {"dir_path": "."})


class GoodCartpoleAgent(ScriptedAgent):
    """Replaces the random policy by a hand-written controller that balances the pole."""

    script = [
        ActionCall(
            "Write File",
            {
                "file_name": "policy.py",
                "content": (
                    "def load(observation_space, action_space):\n"
                    "    def act(obs):\n"
                    "        x, v, theta, omega = obs\n"
                    "        return int(theta + 0.5 * omega + 0.01 * x + 0.1 * v > 0)\n"
                    "    return act\n"
                ),
            },
        ),
    ]


class ResumableAgent(ScriptedAgent):
    """Runs a script that sleeps until an absolute deadline: a run to requeue mid-step.

    The deadline is fixed when the script is written (step 2), so a resumed attempt that runs
    step 3 again sleeps only for what is left of it.
    """

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        import os
        import time

        seconds = float(os.environ.get("MLAB_TEST_SLEEP_S", "15"))
        deadline = time.time() + seconds
        self.script = [
            ActionCall("Write File", {"file_name": "notes.txt", "content": "before"}),
            ActionCall(
                "Write File",
                {
                    "file_name": "slow.py",
                    "content": (
                        "import time\n"
                        "open('partial.txt', 'w').write('started')\n"
                        "print('sleeping', flush=True)\n"
                        f"time.sleep(max(0.0, {deadline!r} - time.time()))\n"
                        "print('woke up')\n"
                    ),
                },
            ),
            ActionCall("Execute Script", {"script_name": "slow.py"}),
            ActionCall("Write File", {"file_name": "after.txt", "content": "after"}),
        ]
        super().begin(ctx, history)


class ThinkingAgent:
    """Takes one step, then thinks far longer than any test's --max-time before its next one."""

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        self.n = len(history)

    def act(self, last: StepRecord | None) -> ActionCall:
        import time

        self.n += 1
        if self.n > 1:
            time.sleep(120)
        return ActionCall("List Files", {"dir_path": "."})


class HangingAgent:
    """Blocks forever in act(), as an agent waiting on a model call that never answers."""

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        pass

    def act(self, last: StepRecord | None) -> ActionCall:
        import threading

        threading.Event().wait()
        raise AssertionError("unreachable")


class OddThoughtAgent(ScriptedAgent):
    """Sends a thought that is not a string and an action name that is a number."""

    script = [
        ActionCall("List Files", {"dir_path": "."}, thought={"plan": [1, 2]}),  # type: ignore[arg-type]
        ActionCall(42, {}, thought=None),  # type: ignore[arg-type]
    ]


class EnvironmentReportingAgent:
    """Writes the names of its own process's environment variables to a file, then stops.

    For the campaign tests: what reaches the harness in a Slurm job (never a value).
    """

    def begin(self, ctx: AgentContext, history: list[StepRecord]) -> None:
        import os

        self._names = sorted(os.environ)

    def act(self, last: StepRecord | None) -> ActionCall:
        if last is None:
            return ActionCall(
                "Write File", {"file_name": "env_names.txt", "content": "\n".join(self._names)}
            )
        return ActionCall("Final Answer", {})
