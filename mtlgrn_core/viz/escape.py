"""The one place that escapes names from user files (genes, samples, datasets, runs, file names, error
messages) before a renderer sees them. Each renderer gets its own function:

* :func:`html_text` -- HTML we write ourselves (element text or an attribute value).
* :func:`plotly_text` -- any string plotly draws (``text``, ``hovertext``, ``customdata`` shown through a
  ``hovertemplate``, titles, legend names, category tick labels): plotly renders a subset of HTML there
  (``<b>``, ``<br>``, ``<a href>``, ``<span style>`` ...) and decodes ``&lt; &gt; &amp;`` and numeric
  entities, but not ``&quot;``, so only ``& < >`` are escaped (without ``<`` no tag can be formed).
* :func:`markdown_text` -- Streamlit Markdown (``st.markdown``, ``st.caption``, ``st.error``, headers,
  ``st.metric`` values, ``st.progress`` text ...): every Markdown, LaTeX (``$``) and Streamlit directive
  (``:red[...]``, ``:material/...:``) character is backslash-escaped, so a name shows exactly as typed and
  can never become a link, an image or formatting.
* :func:`csv_safe` -- tables offered for download as CSV: a text cell starting with ``= + - @`` (or a tab or
  carriage return) is prefixed with ``'`` so that a spreadsheet shows it as text instead of running it as a
  formula.

The interactive pyvis page needs none of these for its data: names travel inside JSON that escapes ``< > &
'`` and vis-network draws labels on a canvas and tooltips with ``innerText`` (see
:mod:`mtlgrn_core.viz.network`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

import pandas as pd

_MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!|<>~$:=&]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def html_text(value) -> str:
    """``value`` as HTML text, safe in element content and in a quoted attribute."""
    return html.escape(str(value), quote=True)


def plotly_text(value) -> str:
    """``value`` as plotly text: ``&``, ``<`` and ``>`` escaped, quotes kept (plotly shows ``&quot;`` as is)."""
    return html.escape(str(value), quote=False)


def plotly_texts(values: Iterable) -> list[str]:
    """:func:`plotly_text` of each value."""
    return [plotly_text(v) for v in values]


def markdown_text(value) -> str:
    """``value`` with every Markdown / LaTeX / directive character backslash-escaped (shows as typed)."""
    return _MARKDOWN_SPECIAL.sub(lambda match: "\\" + match.group(0), str(value))


def csv_cell(value):
    """A text cell that a spreadsheet would read as a formula gets a leading ``'``; anything else is returned
    unchanged (numbers included, so negative values stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, column names and index labels are :func:`csv_cell`-safe."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or isinstance(out[column].dtype, pd.StringDtype):
            out[column] = out[column].map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    if out.index.dtype == object and not isinstance(out.index, pd.MultiIndex):
        out.index = pd.Index([csv_cell(i) for i in out.index], name=csv_cell(out.index.name))
    return out
