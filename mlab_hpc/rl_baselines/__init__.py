"""Reference training code for the RL tasks' human baselines (tasks/<id>/baselines/human.py).

Written with torch (and numpy for the linear policies of ARS), never with Stable-Baselines.
Each algorithm trains on one gymnasium environment and writes a workspace in the tasks' policy
format (docs/rl-tasks.md): ``policy.py`` (a standalone file from ``policy_files/``) and the
weights it loads, so the task's own grader can score it. Meant for a GPU node; the tests run
each script for a few hundred steps only.

torch is imported by the algorithm modules (ppo, sac, dqn), not here: ``pip install
'mlab-hpc[rl]'`` brings it.
"""
