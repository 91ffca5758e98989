"""Human reference of pong: DQN for 10,000,000 decisions (40M frames; published target: 21).

    python tasks/pong/baselines/human.py --out DIR [--total-steps N] [--device cuda]
        [--seed S] [--set NAME=VALUE ...]

Trains with the shared reference code of mlab_hpc.rl_baselines (dqn; torch, never
Stable-Baselines) and writes DIR/policy.py, DIR/weights.npz and DIR/training.json: a workspace
in this task's policy format, which the task's own grader scores:

    python tasks/pong/scripts/eval.py --workspace DIR --answers DIR --out score.json
"""

from mlab_hpc.rl_baselines.common import command_line
from mlab_hpc.rl_baselines.dqn import DQNConfig, train

CONFIG = DQNConfig(
    env_id="PongNoFrameskip-v4",
    total_steps=10_000_000,
)

if __name__ == "__main__":
    command_line(train, CONFIG, __doc__)
