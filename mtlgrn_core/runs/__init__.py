"""Runs kept and shared: the workspace of datasets and runs, background jobs and the compute queue, ensembles on
Dask, one run per cell group, and the Knockout page's queries of a stored run.

- :mod:`.run_folder`, :mod:`.run_cache`: a run on disk (``save_run``, ``load_run``, the checks of a folder) and
  what it saves to answer fast.
- :mod:`.workspace`: datasets and runs saved for every page and session.
- :mod:`.jobs`, :mod:`.compute_queue`: trainings in the background, taking turns on a server.
- :mod:`.ensemble`, :mod:`.cluster`: ensembles of seeds (or bootstrap resamples), on a local or remote Dask cluster.
- :mod:`.groups`: one run per cell group. :mod:`.knockout_queries`: what the Knockout page asks of a run.

Imports from every wing below it (inputs, model, answers, evaluation).
"""
