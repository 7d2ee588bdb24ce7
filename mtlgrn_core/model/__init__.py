"""The model: gene features, the graph network, the linear response model, training, and the figures training
measures; what a trained run is.

- :mod:`.features`: gene features from expression, promoters (k-mers), annotations and knockout responses.
- :mod:`.network` (MTLGRN), :mod:`.gat`, :mod:`.block_scoring`, :mod:`.pair_scoring`: the network and how it
  scores regulator -> target pairs.
- :mod:`.linear_model`: each gene's linear response to its regulators; a change carried along the network.
- :mod:`.outside_regulators`: knockouts of regulators the expression does not measure.
- :mod:`.config`, :mod:`.splits`, :mod:`.randomness`, :mod:`.train`: settings, the split of the prior, random
  streams, the trainer (``fit``).
- :mod:`.memory_guard`: a fit refused before it starts when the machine lacks the memory it needs.
- :mod:`.perturbation_set`: perturbed samples as the knockout head trains on them.
- :mod:`.metrics`, :mod:`.baselines`, :mod:`.methods`: the figures, the simple methods beside the model, and their
  names.
- :mod:`.split_metrics`: a run's figures on its own split's test pairs, beside the baselines (``metrics.json``).
- :mod:`.run`: a trained run (``Run``): the model and what it computes to answer (its folder on disk:
  :mod:`mtlgrn_core.runs.run_folder`).

Imports only from :mod:`mtlgrn_core.inputs` (and the shared ``errors``, ``progress``, ``threads``, ``version``).
"""
