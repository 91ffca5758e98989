"""Standalone policy files that the reference trainers copy into a workspace as policy.py.

Each file imports only numpy (and torch for the Atari player), never mlab_hpc: the grader runs
it in a sandbox where the harness is not importable. The trainers import the same files, so the
preprocessing they train with is the one the graded policy uses.
"""
