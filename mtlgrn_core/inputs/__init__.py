"""What a lab brings: expression files (tables, single-cell AnnData / loom / Cell Ranger), priors, gene lists, sample
sheets, promoters and annotations, read and checked into one :class:`~mtlgrn_core.inputs.data.Dataset`; and the
built-in simulator.

- :mod:`.data`: the dataset folder and the one ``Dataset`` (``load_dataset``, ``build_dataset``, ``write_dataset``).
- :mod:`.upload`: uploaded files and zips made into a ``Dataset`` (the Data page), the demo, the validation report.
- :mod:`.cell_files`, :mod:`.single_cell`: single-cell files opened by anndata's / scanpy's readers, then
  normalised, gene-selected and aggregated into metacells.
- :mod:`.priors`: database priors (TRRUST, DoRothEA, CollecTRI, SCENIC) read and matched to the measured genes.
- :mod:`.tables`, :mod:`.gene_names`: delimited text as labs write it; gene names up to case and version.
  :mod:`.matrix_csv`: a large expression table streamed into float32, in proportion to its size.
- :mod:`.simulate`: the simulated demo with a known network. :mod:`.bootstrap`: a dataset's samples resampled.
- :mod:`.step_timer`: the seconds each loading step took.

Imports nothing from the other wings.
"""
