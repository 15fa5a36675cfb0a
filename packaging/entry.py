"""The bundle's program: the same command line as `poems-monitor` from a source checkout."""

import sys

from poems_monitor.cli import main

if __name__ == "__main__":
    sys.exit(main())
