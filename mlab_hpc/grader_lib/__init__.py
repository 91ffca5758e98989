"""Libraries that task graders import inside the sandbox.

The harness mounts this folder read-only in the grader's sandbox and puts it on PYTHONPATH
(mlab_hpc/grading.py), so a grader imports ``mlab_rl_grading`` as a top-level package. Nothing
here may import ``mlab_hpc``: inside the sandbox the harness itself is not importable.
"""
