"""Grader for the pong task.

    python scripts/eval.py --workspace WS --answers ANS --out OUT.json

Runs the workspace's policy (policy.py: `load(observation_space, action_space)` returns a
function from a screen to an action) on PongNoFrameskip-v4 for 20 games, each reset with a seed
of the grader's own (the agent's train.py uses 0..19) and started with 0 to 30 no-op frames
drawn from that seed, capped at 10,000 frames. The metric `mean_return` is the mean of the 20
returns (points won minus points lost, from -21 to 21).

Pong in this version has no sticky actions, so with a fixed start every game would be the same
and a memorised sequence of actions could win it; the no-op start varies the games.

The child plays, the parent scores (the shared library mlab_rl_grading, docs/rl-tasks.md): the
policy runs in a child process, the parent replays its actions in an untouched emulator and
scores that replay. A policy that crashes, exits, returns anything but an integer from 0 to 5
or runs past the 1800 s budget is invalid with the reason. The number in submission.txt is
recorded as `agent_reported`, never used as the score. ANS is unused.
"""

from __future__ import annotations

try:
    from mlab_rl_grading import RLTask, main
except ModuleNotFoundError:  # run by hand, outside the harness's sandbox
    from mlab_hpc.grader_lib.mlab_rl_grading import RLTask, main

TASK = RLTask(
    env_id="PongNoFrameskip-v4",
    episodes=20,
    max_episode_steps=10_000,
    base_seed=7_731_052,
    time_budget_s=1800.0,
    env_modules=("ale_py",),
    noop_max=30,
)

if __name__ == "__main__":
    main(TASK, __doc__)
