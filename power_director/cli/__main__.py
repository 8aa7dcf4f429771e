"""``python -m power_director.cli``: the command line."""

import sys

from power_director.cli.app import main

sys.exit(main())
