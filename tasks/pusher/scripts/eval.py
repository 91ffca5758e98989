"""Grader for the pusher task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Runs the workspace's policy (policy.py: `load(observation_space, action_space)` returns a
function from observation to action) on Pusher-v5 for 100 episodes, each reset with
a seed of the grader's own (the agent's train.py uses 0..99), capped at 100 steps. The
metric `mean_return` is the mean of the 100 returns.

The child plays, the parent scores (the shared library mlab_rl_grading, docs/rl-tasks.md): the
policy runs in a child process, the parent replays its actions in an untouched environment and
scores that replay. A policy that crashes, exits, returns an action that is not
7 numbers in [-2, 2] or runs past the 600 s budget is invalid with the reason. The number in
submission.txt is recorded as `agent_reported`, never used as the score. ANS is unused.
"""

from __future__ import annotations

try:
    from mlab_rl_grading import RLTask, main
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_rl_grading import RLTask, main

TASK = RLTask(
    env_id="Pusher-v5",
    episodes=100,
    max_episode_steps=100,
    base_seed=3_105_886,
    time_budget_s=600.0,
)

if __name__ == "__main__":
    main(TASK, __doc__)
