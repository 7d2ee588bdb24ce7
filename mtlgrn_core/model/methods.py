"""Names and one-line descriptions of the methods the evaluation tables show: the model and its baselines.

``metrics.json`` keys its baselines by :data:`BASELINE_KEYS` (plain words); tables show the display names.
"""

from __future__ import annotations

MODEL = "MTLGRN"
ENSEMBLE = "MTLGRN ensemble"
RANDOM, DEGREE, REVERSE, PEARSON, KO_ZSCORE, GENIE3 = (
    "random", "degree", "reverse edge", "|Pearson|", "knockout z-score", "GENIE3")
ZERO, MEAN_DELTA, LINEAR = "zero change", "mean training delta", "linear propagation"
MEAN_PLUS_LINEAR = "mean training delta + linear propagation"

#: metrics.json key -> display name of each edge baseline scored with every run
BASELINE_KEYS = {"random": RANDOM, "degree": DEGREE, "reverse_edge": REVERSE, "pearson": PEARSON,
                 "knockout_zscore": KO_ZSCORE}

METHOD_HELP = {
    MODEL: "this run's model",
    ENSEMBLE: "the mean score of an ensemble's members (the same settings and split, other seeds); MTLGRN is its "
              "first member",
    RANDOM: "random scores: the floor any method must beat",
    DEGREE: "out-degree of the regulator + in-degree of the target in the training edges (hub knowledge only)",
    REVERSE: "1 where the reverse pair (target → regulator) is a training edge, then degree: how far the "
             "reciprocity of the known network goes alone",
    PEARSON: "absolute Pearson correlation of the two genes' expression",
    KO_ZSCORE: "how far the target moves when the regulator is knocked out, in standard deviations",
    GENIE3: "GENIE3 tree ensembles (Huynh-Thu et al. 2010)",
    ZERO: "predicts no change at all",
    MEAN_DELTA: "the average change over the training knockouts",
    LINEAR: "each gene regressed on its known regulators, the knockout propagated through that linear model",
    MEAN_PLUS_LINEAR: "the two baselines added: the common response to any knockout plus the change the linear "
                      "model carries from the knocked-out gene",
}


def variant_method(variant: str) -> str:
    """Table label of an ablation variant: ``MTLGRN`` for the full model, else ``MTLGRN <variant>``."""
    return MODEL if variant == "full model" else f"{MODEL} {variant}"
