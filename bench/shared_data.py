"""Where the shared benchmark data lives: ``--shared DIR``, else ``$MTLGRN_SHARED_DATA``, else
``<repo>/../shared/data`` (the layout CI has). A user's machine has none; the scripts then exit with code 2."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "MTLGRN_SHARED_DATA"
DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data_dir(shared: str | Path | None = None) -> Path:
    """The shared data folder: ``shared``, else ``$MTLGRN_SHARED_DATA``, else ``<repo>/../shared/data``."""
    if shared is not None:
        return Path(shared)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_SHARED
