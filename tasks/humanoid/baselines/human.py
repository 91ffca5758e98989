"""Human reference of humanoid: SAC for 2,000,000 steps (published target: 6000+).

    python tasks/humanoid/baselines/human.py --out DIR [--total-steps N] [--device cuda]
        [--seed S] [--set NAME=VALUE ...]

Trains with the shared reference code of mlab_hpc.rl_baselines (sac; torch, never
Stable-Baselines) and writes DIR/policy.py, DIR/weights.npz and DIR/training.json: a workspace
in this task's policy format, which the task's own grader scores:

    python tasks/humanoid/scripts/eval.py --workspace DIR --answers DIR --out score.json
"""

from mlab_hpc.rl_baselines.common import command_line
from mlab_hpc.rl_baselines.sac import SACConfig, train

CONFIG = SACConfig(
    env_id="Humanoid-v5",
    total_steps=2_000_000,
    learning_starts=10_000,
)

if __name__ == "__main__":
    command_line(train, CONFIG, __doc__)
