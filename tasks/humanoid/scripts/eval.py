"""Grader for the humanoid task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Runs the workspace's policy (policy.py: `load(observation_space, action_space)` returns a
function from observation to action) on Humanoid-v5 for 100 episodes, each reset with
a seed of the grader's own (the agent's train.py uses 0..99), capped at 1000 steps. The
metric `mean_return` is the mean of the 100 returns.

The child plays, the parent scores (the shared library mlab_rl_grading, docs/rl-tasks.md): the
policy runs in a child process, the parent replays its actions in an untouched environment and
scores that replay. A policy that crashes, exits, returns an action that is not
17 numbers in [-0.4, 0.4] or runs past the 1800 s budget is invalid with the reason. The number in
submission.txt is recorded as `agent_reported`, never used as the score. ANS is unused.
"""

from __future__ import annotations

try:
    from mlab_rl_grading import RLTask, main
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_rl_grading import RLTask, main

TASK = RLTask(
    env_id="Humanoid-v5",
    episodes=100,
    max_episode_steps=1000,
    base_seed=5_517_209,
    time_budget_s=1800.0,
)

if __name__ == "__main__":
    main(TASK, __doc__)
