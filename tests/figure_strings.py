"""Every string inside a plotly figure's JSON (titles, names, hover text, tick labels ...), for tests that
check what a figure would render."""

from __future__ import annotations

import numpy as np


def figure_strings(fig) -> list[str]:
    return list(_strings(fig.to_plotly_json()))


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, np.ndarray) and value.dtype.kind in "OU":  # object or text arrays
        for v in value.ravel():
            yield from _strings(v)
