"""How good the answers are: edges scored against the test split or a ground truth beside the baselines, knockout
cross-validation, the ablation, what a thin prior supports, and a prediction against the lab's own DE table.

- :mod:`.edge_evaluation`: scored pairs, curves and metrics of a run, GENIE3 in the background.
- :mod:`.knockout_evaluation`: knockouts held out in folds. :mod:`.ablation`: one part switched off at a time.
- :mod:`.edge_support`: how many known edges the figures rest on. :mod:`.de_comparison`: "does the prediction
  agree with my DE table?".

Imports from :mod:`mtlgrn_core.inputs`, :mod:`mtlgrn_core.model` and :mod:`mtlgrn_core.answers` only.
"""
