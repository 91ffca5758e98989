"""mlab-hpc: a reproducible HPC batch suite for benchmarking AI research agents."""

__version__ = "0.1.0"
