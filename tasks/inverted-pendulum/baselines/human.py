"""Human reference of inverted-pendulum: PPO for 20,000 steps (published: 1000 +/- 0).

    python tasks/inverted-pendulum/baselines/human.py --out DIR [--total-steps N] [--device cuda]
        [--seed S] [--set NAME=VALUE ...]

Trains with the shared reference code of mlab_hpc.rl_baselines (ppo; torch, never
Stable-Baselines) and writes DIR/policy.py, DIR/weights.npz and DIR/training.json: a workspace
in this task's policy format, which the task's own grader scores:

    python tasks/inverted-pendulum/scripts/eval.py --workspace DIR --answers DIR --out score.json
"""

from mlab_hpc.rl_baselines.common import command_line
from mlab_hpc.rl_baselines.ppo import PPOConfig, train

CONFIG = PPOConfig(
    env_id="InvertedPendulum-v5",
    total_steps=20_000,
    num_envs=1,
    rollout_steps=2048,
)

if __name__ == "__main__":
    command_line(train, CONFIG, __doc__)
