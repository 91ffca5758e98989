"""``python -m mlab_hpc`` is the ``mlab-hpc`` command."""

from .cli import main

main()
