"""``python -m mtlgrn_core``: the command line."""

import sys

from mtlgrn_core.cli import main

if __name__ == "__main__":  # a process started by multiprocessing imports this module again: it must not run it
    sys.exit(main())
