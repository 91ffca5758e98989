"""Campaigns: tasks x seeds x agents x models, launched through submitit (Slurm, local, debug)."""
