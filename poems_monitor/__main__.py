"""`python -m poems_monitor` runs the same command line as `poems-monitor`."""

import sys

from poems_monitor.cli import main

sys.exit(main())
