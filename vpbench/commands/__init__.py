"""Sub-commands of the ``vpbench`` CLI, one module each (see :mod:`vpbench.cli`)."""
