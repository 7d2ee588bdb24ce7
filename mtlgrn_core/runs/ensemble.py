"""An ensemble: runs of the same data and settings that differ only in their seed, and what their agreement
tells a user: how stable each edge is, and how sure each predicted change is. In a bootstrap ensemble
(``TrainConfig.bootstrap``, :mod:`mtlgrn_core.inputs.bootstrap`) each member also trains on its own resample of the
samples, so that the spread reflects how much the data support a prediction, not only the training's randomness
(which leaves what every member fits from the same samples, such as an observational knockout, without spread).

On disk an ensemble is an ordinary run folder (its first member, so that everything that opens a run opens it)
with ``ensemble.json`` listing every member: ``.`` for the top-level run, ``members/seed-<s>`` for the others,
and the members that failed with their error, and whether it is a bootstrap ensemble. :mod:`mtlgrn_core.runs.cluster`
trains the members on Dask.

- :func:`ensemble_edges`: each member's top-k pairs are pooled; every pooled pair is scored by every member;
  the table gains ``score_sd`` (spread of the members' scores) and ``stability`` (share of members that rank
  the pair in their top k), and is ranked by the members' mean score.
- :func:`ensemble_knockout`: each member's predicted change of each gene; the table gains ``delta_sd``, the
  central 95 % range of the members' predictions (``delta_low``, ``delta_high``) and ``uncertain`` (that range
  holds 0: the members do not agree the gene moves, or on which way).
- :func:`ensemble_knockouts`: many perturbations at once, each gene's change the members' mean.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from mtlgrn_core.answers.infer import (
    TABLE_ATTRS,
    ExtrapolationWarning,
    default_top,
    predict_knockout,
    predict_knockouts,
    score_edges,
)
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.methods import ENSEMBLE
from mtlgrn_core.model.pair_scoring import score_pairs
from mtlgrn_core.model.run import Run
from mtlgrn_core.runs.run_folder import ENSEMBLE_FILE, check_ensemble_folder, load_run, replace_folder, write_run_files

if TYPE_CHECKING:  # edge_evaluation loads scikit-learn: only the edge evaluation of an ensemble needs it
    from mtlgrn_core.evaluation.edge_evaluation import ScoredPairs

INTERVAL = (0.025, 0.975)
BOOTSTRAP_SPREAD = ("each member trained on its own resample of the samples (bootstrap): the spread is how much "
                    "the prediction moves with the samples drawn, i.e. how sure the fit is of its own numbers; it is "
                    "not the range a real knockout's change falls in (on real yeast deletions the 95 % range of 5 "
                    "members held under 1 % of the 50 most changed genes' measured changes, make bench-yeast)")
SEED_SPREAD = ("the members differ only in their seed: the spread is the training's randomness, not how much the data "
               "support the prediction; what every member fits from the same samples (the linear responses, all of "
               "a prediction from observational data) has none. A bootstrap ensemble's spread reflects the data")
MIN_STABILITY_TOP = 100
SCORE_ROUNDING = 1e-6  # the central 95 % of the members' predictions


@dataclass
class Ensemble:
    """Members (loaded runs, in seed order), their seeds, the members that failed (``seed``, ``error``), and
    whether each member trained on its own resample of the samples (``bootstrap``)."""

    members: list[Run]
    seeds: list[int]
    failed: list[dict] = field(default_factory=list)
    path: Path | None = None
    bootstrap: bool = False

    @property
    def first(self) -> Run:
        """The member saved at the top of the folder (what opens when the folder is opened as one run)."""
        return self.members[0]


def member_folder(seed: int) -> str:
    return f"members/seed-{seed}"


def save_ensemble(members: dict[int, Run], failed: Sequence[dict], out: str | Path, info: dict | None = None) -> Path:
    """Write an ensemble folder: the member of the smallest seed at the top, the others under ``members/``
    (atomically: the folder appears complete or not at all). ``info`` is added to every member's info; the
    members' ``info["ensemble"]`` and ``ensemble.json`` say whether it is a bootstrap ensemble (every member
    trained on its own resample)."""
    if not members:
        raise DataValidationError("no member of the ensemble was trained: nothing to save (see the errors above).")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        seeds = sorted(members)
        bootstrap = all(run.config.bootstrap for run in members.values())
        listing = []
        for seed in seeds:
            run = members[seed]
            run.info.update({**(info or {}),
                             "ensemble": {"seed": seed, "members": len(seeds), "bootstrap": bootstrap}})
            folder = "." if seed == seeds[0] else member_folder(seed)
            (tmp / folder).mkdir(parents=True, exist_ok=True)
            write_run_files(run, tmp / folder)
            listing.append({"seed": seed, "path": folder})
        (tmp / ENSEMBLE_FILE).write_text(json.dumps({"members": listing, "failed": list(failed),
                                                     "bootstrap": bootstrap}, indent=2))
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for entry in listing:
        members[entry["seed"]].path = out / entry["path"]
    return out


def load_ensemble(path: str | Path) -> Ensemble:
    """The ensemble saved in ``path`` (a run folder holding ``ensemble.json``)."""
    path = Path(path)
    listing = check_ensemble_folder(path)
    saved = json.loads((path / ENSEMBLE_FILE).read_text())
    members = [load_run(path / entry["path"]) for entry in listing]
    return Ensemble(members, [entry["seed"] for entry in listing], list(saved.get("failed", [])), path,
                    bootstrap=bool(saved.get("bootstrap", False)))


# -- edges ---------------------------------------------------------------------------------------------
def ensemble_edges(ensemble: Ensemble, *, top: int | None = None, stability_top: int | None = None,
                   progress: Callable[[float], None] | None = None) -> pd.DataFrame:
    """Ranked edges of an ensemble.

    Parameters
    ----------
    top
        Keep the ``top`` pairs of highest mean score (default as :func:`~mtlgrn_core.answers.infer.score_edges`).
    stability_top
        The k of ``stability``: a member "keeps" a pair when it ranks it in its best k (default: as many pairs as
        the prior has edges, at least :data:`MIN_STABILITY_TOP`: a network the size of the known one).
    progress
        Called with the share done (0-1) as the members score.

    Returns
    -------
    pandas.DataFrame
        ``rank, source, target, score`` (mean over the members), ``score_sd`` (their standard deviation),
        ``stability`` (share of members ranking the pair in their top k), ``in_prior``; among the pairs that at
        least one member ranks in its top ``max(top, k)``.
    """
    first = ensemble.first
    top = default_top(len(first.tfs) * (len(first.genes) - 1)) if top is None else top
    k = stability_top or default_stability_top(first, top)
    n = len(ensemble.members)
    kept = [score_edges(run, top=max(top, k),
                        progress=None if progress is None else (lambda share, m=m: progress((m + share) / n)))
            for m, run in enumerate(ensemble.members)]
    gene_index = first.gene_index
    pooled = pd.concat([t[["source", "target"]] for t in kept]).drop_duplicates(ignore_index=True)
    src = torch.as_tensor(pooled["source"].map(gene_index).to_numpy(np.int64))
    dst = torch.as_tensor(pooled["target"].map(gene_index).to_numpy(np.int64))
    scores = np.stack([score_pairs(run.model(), run.embeddings(), run.tensors(), src, dst)
                       for run in ensemble.members])
    # each member's k-th best score; the block scorer and the pair scorer differ by float rounding (~1e-7)
    cutoffs = np.array([t["score"].iloc[min(k, len(t)) - 1] if len(t) else np.inf for t in kept]) - SCORE_ROUNDING
    table = pooled.assign(score=scores.mean(axis=0), score_sd=_spread(scores), stability=stability(scores, cutoffs))
    table = table.sort_values(["score", "source", "target"], ascending=[False, True, True], kind="stable").head(top)
    prior = set(zip(first.prior["source"], first.prior["target"]))
    table["in_prior"] = [(s, t) in prior for s, t in zip(table["source"], table["target"])]
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table = table.reset_index(drop=True)
    table.attrs["stability_top"] = k
    return table


def default_stability_top(run: Run, top: int | None = None) -> int:
    """The default k of ``stability``: as many pairs as the run's prior has edges (a network the size of the
    known one), at least :data:`MIN_STABILITY_TOP`, at most ``top`` (default: every candidate pair, or
    :func:`~mtlgrn_core.answers.infer.default_top` of them)."""
    top = default_top(len(run.tfs) * (len(run.genes) - 1)) if top is None else top
    return min(top, max(len(run.prior), MIN_STABILITY_TOP))


def stability(scores: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """Share of the members (rows of ``scores``, one column per pair) that score each pair at least their own
    cut-off (``cutoffs``: each member's k-th best score): the share that rank it in their top k."""
    return (scores >= cutoffs[:, None]).mean(axis=0)


def member_scores(ensemble: Ensemble, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``(members, pairs)``: every member's score of the pairs ``src -> dst``."""
    from mtlgrn_core.evaluation.edge_evaluation import model_pair_scores

    return np.stack([model_pair_scores(run, src, dst) for run in ensemble.members])


def with_ensemble_scores(scored: ScoredPairs, ensemble: Ensemble) -> ScoredPairs:
    """``scored`` (pairs scored by the first member and the baselines) with the members' mean score as one more
    method (:data:`~mtlgrn_core.model.methods.ENSEMBLE`)."""
    return scored.with_method(ENSEMBLE, member_scores(ensemble, scored.src, scored.dst).mean(axis=0))


# -- knockouts -----------------------------------------------------------------------------------------
def ensemble_knockout(ensemble: Ensemble, genes: Sequence[str] | str, dose: float | Sequence[float] = 0.0, *,
                      samples: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Every member's :func:`~mtlgrn_core.answers.infer.predict_knockout`, pooled.

    Returns
    -------
    pandas.DataFrame
        ``gene, baseline, predicted, delta`` (means over the members), ``delta_sd``, ``delta_low``,
        ``delta_high`` (the central 95 % of the members' deltas), ``uncertain`` (that range holds 0),
        ``log2fc`` (mean over the members), ``perturbed``; sorted by decreasing ``|delta|``. ``attrs`` as
        :func:`predict_knockout`'s, with ``members`` (how many), ``bootstrap`` (whether the members trained on
        resamples) and ``spread`` (what the spread means, :func:`spread_meaning`).
    """
    tables = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtrapolationWarning)
        for run in ensemble.members:
            tables.append(predict_knockout(run, genes, dose, samples=samples).set_index("gene")
                          .loc[list(ensemble.first.genes)])
    for note in dict.fromkeys(str(w.message) for w in caught):
        warnings.warn(note, ExtrapolationWarning, stacklevel=2)
    deltas = np.stack([t["delta"].to_numpy() for t in tables])
    low, high = np.quantile(deltas, INTERVAL, axis=0)
    base = tables[0]
    mean_predicted = np.mean([t["predicted"].to_numpy() for t in tables], axis=0)
    table = pd.DataFrame({"gene": base.index, "baseline": base["baseline"].to_numpy(), "predicted": mean_predicted,
                          "delta": deltas.mean(axis=0), "delta_sd": _spread(deltas), "delta_low": low,
                          "delta_high": high, "uncertain": (low <= 0) & (high >= 0),
                          "log2fc": np.mean([t["log2fc"].to_numpy() for t in tables], axis=0),
                          "perturbed": base["perturbed"].to_numpy()})
    table = table.reindex(table["delta"].abs().sort_values(ascending=False, kind="stable").index)
    table = table.reset_index(drop=True)
    first = tables[0]
    kept = {k: first.attrs.get(k, default) for k, default in TABLE_ATTRS.items()}
    table.attrs.update({**kept, "members": len(tables), "bootstrap": ensemble.bootstrap,
                        "spread": spread_meaning(ensemble)})
    return table


def spread_meaning(ensemble: Ensemble) -> str:
    """What the spread of the ensemble's predictions says, in a sentence: how much the data support them (a
    bootstrap ensemble), or only how the training's randomness moves them (members differing by seed alone)."""
    return BOOTSTRAP_SPREAD if ensemble.bootstrap else SEED_SPREAD


def ensemble_knockouts(ensemble: Ensemble, perturbations: Sequence[Sequence[str] | str], dose: float = 0.0
                       ) -> pd.DataFrame:
    """:func:`~mtlgrn_core.answers.infer.predict_knockouts` of every member, averaged: ``gene, baseline`` (the first
    member's), then one column per perturbation holding the members' mean ``delta`` (what
    :func:`ensemble_knockout` gives for it alone); ``attrs`` as the first member's, with ``members``."""
    genes = list(ensemble.first.genes)
    tables = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtrapolationWarning)
        for run in ensemble.members:
            tables.append(predict_knockouts(run, perturbations, dose))
    for note in dict.fromkeys(str(w.message) for w in caught):
        warnings.warn(note, ExtrapolationWarning, stacklevel=2)
    aligned = [t.set_index("gene").loc[genes] for t in tables]
    columns = aligned[0].columns.drop("baseline")
    mean = np.mean([t[columns].to_numpy() for t in aligned], axis=0)
    table = pd.DataFrame({"gene": genes, "baseline": aligned[0]["baseline"].to_numpy(),
                          **{name: mean[:, j] for j, name in enumerate(columns)}})
    table.attrs.update({**tables[0].attrs, "members": len(tables)})
    return table


def _spread(values: np.ndarray) -> np.ndarray:
    """Standard deviation over the members (rows); 0 for a single member."""
    return values.std(axis=0, ddof=1) if values.shape[0] > 1 else np.zeros(values.shape[1])
