"""``python -m power_director``: the command line, as ``power-director``."""

import sys

from power_director.cli.app import main

sys.exit(main())
