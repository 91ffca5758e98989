"""Grading of reinforcement-learning policies, shared by the graders of every RL task.

A task's ``scripts/eval.py`` describes its environment with :class:`RLTask` and calls
:func:`main`. The policy format (docs/rl-tasks.md): the workspace holds ``policy.py`` whose
``load(observation_space, action_space)`` returns a function from one observation to one action.

The child plays, the parent scores: the agent's code runs only in a child process, which plays
the graded episodes against an environment of its own and sends back each episode's actions
(JSON, never pickles). The parent replays the actions in an untouched environment reset with the
same seeds; the returns of that replay are the score.
"""

from .grader import (
    SMOKE_EPISODES_VARIABLE,
    InvalidSubmission,
    RLTask,
    check_action,
    grade,
    main,
    make_env,
    noop_count,
)

__all__ = [
    "SMOKE_EPISODES_VARIABLE",
    "InvalidSubmission",
    "RLTask",
    "check_action",
    "grade",
    "main",
    "make_env",
    "noop_count",
]
