"""Figure builders: plotly figures and HTML strings, no UI calls. One module per page topic."""
