"""What goes back to the lab: the one-file HTML report, and results in the formats the field reads (decoupler
networks, the lab's own AnnData). The figures are in :mod:`mtlgrn_core.viz`.

- :mod:`.html_report`: ``write_report`` (a run in one self-contained HTML file, optionally PDF).
- :mod:`.result_exports`: ``decoupler_network``, ``add_to_anndata``.

Imports from every wing below it.
"""
