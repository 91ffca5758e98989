"""Human reference of bipedal-walker: a linear policy found by augmented random search.

The published human reference is a closed-form linear policy (309.99 on this task's grader);
ARS searches the same family of policies instead of copying its weights.

    python tasks/bipedal-walker/baselines/human.py --out DIR [--total-steps N] [--seed S]
        [--set NAME=VALUE ...]

Trains with the shared reference code of mlab_hpc.rl_baselines (ars: numpy only, on
the CPU) and writes DIR/policy.py, DIR/weights.npz and DIR/training.json: a workspace
in this task's policy format, which the task's own grader scores:

    python tasks/bipedal-walker/scripts/eval.py --workspace DIR --answers DIR --out score.json
"""

from mlab_hpc.rl_baselines.ars import ARSConfig, train
from mlab_hpc.rl_baselines.common import command_line

CONFIG = ARSConfig(
    env_id="BipedalWalker-v3",
    total_steps=30_000_000,
    directions=16,
    top_directions=8,
    step_size=0.02,
    noise=0.03,
    max_episode_steps=1600,
)

if __name__ == "__main__":
    command_line(train, CONFIG, __doc__)
