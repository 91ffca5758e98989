"""Human reference of pusher: PPO for 80,000 steps (published: -35.2 +/- 4.2).

    python tasks/pusher/baselines/human.py --out DIR [--total-steps N] [--device cuda]
        [--seed S] [--set NAME=VALUE ...]

Trains with the shared reference code of mlab_hpc.rl_baselines (ppo; torch, never
Stable-Baselines) and writes DIR/policy.py, DIR/weights.npz and DIR/training.json: a workspace
in this task's policy format, which the task's own grader scores:

    python tasks/pusher/scripts/eval.py --workspace DIR --answers DIR --out score.json
"""

from mlab_hpc.rl_baselines.common import command_line
from mlab_hpc.rl_baselines.ppo import PPOConfig, train

CONFIG = PPOConfig(
    env_id="Pusher-v5",
    total_steps=80_000,
    num_envs=1,
    rollout_steps=2048,
)

if __name__ == "__main__":
    command_line(train, CONFIG, __doc__)
