"""Human reference of cartpole: PPO for 30,000 steps (published: reaches the 500 cap).

    python tasks/cartpole/baselines/human.py --out DIR [--total-steps N] [--device cuda]
        [--seed S] [--set NAME=VALUE ...]

Trains with the shared reference code of mlab_hpc.rl_baselines (ppo; torch, never
Stable-Baselines) and writes DIR/policy.py, DIR/weights.npz and DIR/training.json: a workspace
in this task's policy format, which the task's own grader scores:

    python tasks/cartpole/scripts/eval.py --workspace DIR --answers DIR --out score.json
"""

from mlab_hpc.rl_baselines.common import command_line
from mlab_hpc.rl_baselines.ppo import PPOConfig, train

CONFIG = PPOConfig(
    env_id="CartPole-v1",
    total_steps=30_000,
    num_envs=4,
    rollout_steps=128,
    epochs=4,
    learning_rate=1e-3,
    anneal_learning_rate=True,
    entropy_coef=0.01,
    normalize_observations=False,
)

if __name__ == "__main__":
    command_line(train, CONFIG, __doc__)
