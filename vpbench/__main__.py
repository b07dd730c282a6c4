"""``python -m vpbench`` (and ``torchrun -m vpbench``) is the ``vpbench`` command."""

import sys

from vpbench.cli import main

sys.exit(main())
