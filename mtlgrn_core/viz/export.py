"""Static export of plotly figures (PNG/SVG through kaleido and a Chromium binary)."""

from __future__ import annotations

import os
import shutil
import threading
import warnings

import plotly.graph_objects as go

from mtlgrn_core.errors import DataValidationError

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium_path() -> str | None:
    """The Chromium/Chrome binary kaleido will use, or None."""
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def figure_bytes(fig: go.Figure, fmt: str, *, width: int = 1000, height: int = 650, scale: float = 2.0) -> bytes:
    """The figure as PNG or SVG bytes.

    Raises
    ------
    DataValidationError
        When ``fmt`` is unknown or no Chromium is installed (kaleido needs one).
    """
    if fmt not in FORMATS:
        raise DataValidationError(f"unknown image format '{fmt}'; use png or svg.")
    browser = chromium_path()
    if browser is None:
        raise DataValidationError("static PNG/SVG export needs Chromium (install Debian's 'chromium' package; "
                                  "`make run` does it). The interactive HTML export works without it.")
    os.environ.setdefault("BROWSER_PATH", browser)
    return fig.to_image(format=fmt, width=width, height=height, scale=scale if fmt == "png" else 1.0)


def figure_html(fig: go.Figure) -> str:
    """A self-contained interactive HTML page of the figure (plotly.js inlined: works offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


_SVG_SERVER = threading.Lock()  # kaleido's browser server is one per process


def svg_figures(figures: list[go.Figure], *, width: int = 1000, height: int = 650) -> list[bytes]:
    """Each figure as SVG, drawn by one Chromium kept open for all of them (kaleido's sync server: about a
    tenth of a second a figure instead of seconds)."""
    import kaleido

    browser = chromium_path()
    if browser is None:
        raise DataValidationError("SVG export needs Chromium (install Debian's 'chromium' package; `make run` does "
                                  "it).")
    os.environ.setdefault("BROWSER_PATH", browser)
    with _SVG_SERVER, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "kopts is ignored if using a server": the size still holds
        kaleido.start_sync_server(silence_warnings=True)
        try:
            return [fig.to_image(format="svg", width=width, height=fig.layout.height or height)
                    for fig in figures]
        finally:
            kaleido.stop_sync_server(silence_warnings=True)
