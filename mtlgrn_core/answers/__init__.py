"""What a trained run answers: ranked edges, predicted knockouts (in a context of the lab's samples), screens of every
regulator, why a gene moves, the network's hubs and modules, and how groups differ.

- :mod:`.infer`: ``score_edges``, ``predict_knockout``, ``predict_knockouts``.
- :mod:`.contexts`: "in these cells": the samples a knockout is predicted in.
- :mod:`.explain`: the regulatory paths that carry a gene's change.
- :mod:`.knockout_evidence`: how far a knockout prediction can be trusted, in one sentence.
- :mod:`.screens`: in-silico screens, every regulator perturbed and ranked: which would move my genes, which would
  turn one group of samples into another; :mod:`.screen_scores`: how their candidates are scored and ranked.
- :mod:`.analysis`: the network's hubs, modules and annotations. :mod:`.group_comparison`: runs of cell groups.

Imports from :mod:`mtlgrn_core.inputs` and :mod:`mtlgrn_core.model` only.
"""
