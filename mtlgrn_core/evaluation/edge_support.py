"""How many known edges the edge figures rest on, and what a thin overlap supports.

A database prior (TRRUST, DoRothEA) names many genes a reduced single-cell file does not keep: only the edges
between measured genes can be learned and tested. The test split holds out 30 % of them
(:func:`~mtlgrn_core.model.splits.split_sizes`). Below :data:`MIN_TEST_POSITIVES` true edges among the test pairs, each
edge found or missed moves recall by more than 5 points, and an AUPRC or AUROC says little about the method. The
product then says so and what to do, instead of printing the figure: on the Data page and in ``train`` before
training (:func:`prior_support`), on the Evaluate page, in the report and in ``evaluate`` afterwards
(:func:`thin_reference_note`).
"""

from __future__ import annotations

from mtlgrn_core.model.splits import split_sizes

MIN_TEST_POSITIVES = 20  # each true edge of the reference is then at most 5 % of the recall
WHAT_TO_DO = ("Keep every gene of the expression (a file reduced to a few hundred highly variable genes keeps few "
              "of the prior's genes; raise the gene budget or set none), or use a larger prior (e.g. CollecTRI or "
              "DoRothEA A-C rather than TRRUST alone).")


def expected_test_positives(n_edges: int) -> int:
    """How many of ``n_edges`` known edges the edge hold-out keeps for testing (what train and validation leave:
    :func:`~mtlgrn_core.model.splits.split_sizes`)."""
    n_train, n_val = split_sizes(int(n_edges))
    return int(n_edges) - n_train - n_val


def prior_support(n_edges: int, n_regulators: int) -> tuple[str, bool]:
    """``(sentence, thin)``: how many known edges join two measured genes and how many the test split will hold;
    ``thin`` when those are fewer than :data:`MIN_TEST_POSITIVES`, and the sentence then says what that supports
    and what to do."""
    n_test = expected_test_positives(n_edges)
    counts = f"{n_edges:,} known edges join two measured genes ({n_regulators:,} regulators)"
    if n_test >= MIN_TEST_POSITIVES:
        return f"{counts}; the test split holds about {n_test:,} of them out to score the edge figures.", False
    return (f"Only {counts}: the test split will hold about {n_test:,} of them, fewer than the {MIN_TEST_POSITIVES} "
            "edge figures (AUPRC, AUROC) need to mean much, so the Evaluate page will not show them. The model "
            f"still trains and predicts knockouts. {WHAT_TO_DO}"), True


def thin_reference_note(n_positives: int, reference: str = "the held-out part of the prior") -> str | None:
    """Why edge figures on a reference with ``n_positives`` true edges mean little, and what to do (the caller
    says what it does instead of showing them); ``None`` when it has at least :data:`MIN_TEST_POSITIVES`."""
    if n_positives >= MIN_TEST_POSITIVES:
        return None
    return (f"{reference} holds {n_positives:,} true edges, fewer than the {MIN_TEST_POSITIVES} an AUPRC or AUROC "
            f"needs to mean much (each edge found or missed would move recall by {100 / max(n_positives, 1):.0f} "
            f"points). {WHAT_TO_DO}")
