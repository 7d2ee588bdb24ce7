"""The dashboard's shared layer: the only package that imports streamlit.

Pages call :func:`mtlgrn_ui.page.setup_page` first, then read state through :mod:`mtlgrn_ui.state` and
cached resources through :mod:`mtlgrn_ui.resources`.
"""
