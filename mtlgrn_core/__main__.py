"""``python -m mtlgrn_core``: the command line."""

import sys

from .cli import main

if __name__ == "__main__":  # worker processes (Dask's LocalCluster) import this module again: they must not run it
    sys.exit(main())
