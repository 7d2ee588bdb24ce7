"""Bootstrap members of an ensemble: each trains on its own resample of the samples, drawn with replacement, so
that the spread of the members' predictions reflects how much the data support them.

The members of a plain ensemble differ only in their seed. Where a prediction is fitted from the samples alone
(the linear responses every knockout prediction starts from: the whole prediction of a run without perturbed
samples) every member fits the same numbers, and the ensemble's spread is 0 whatever the data say. A bootstrap
member (``TrainConfig.bootstrap``) trains on :func:`bootstrap_dataset` instead of the dataset:

- as many samples as the dataset has, drawn with replacement within each kind of sample (:func:`sample_kinds`:
  controls, other unperturbed samples, perturbed samples), so that every member keeps as many controls and as
  many perturbations as the data have (the demo's 3 controls in 99 samples would all be missed by one plain
  resample in 20); a sample drawn k times appears k times, first under its own name, then as ``name#2``, ...;
- drawn by ``numpy.random.default_rng([seed, BOOTSTRAP_STREAM])``: the member's seed, on a stream of its own,
  so that the draw shares no numbers with the other draws of that seed (the knockout validation genes,
  :func:`~mtlgrn_core.model.train.knockout_validation_genes`), as each training has its own streams
  (:mod:`mtlgrn_core.model.randomness`).

Everything the member fits from samples is built from its resample, in :func:`~mtlgrn_core.model.train.fit`: the
model's inputs (standardised expression, gene scales, control baseline, knockout responses and z-scores), the
linear responses the knockout head starts from, the baselines of its test metrics, and the linear responses of
the saved run (:meth:`~mtlgrn_core.model.run.Run.linear_responses` fits the run's own inputs, saved with it, so
a reloaded member refits the same ones). The split of the prior holds out pairs, not samples: it is the
ensemble's, shared by every member. The samples that judge the knockout head stay out of the judged fit's
training as they do in a plain fit (the copies drawn of them included) and judge it as measured, once each.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd

from mtlgrn_core.inputs.data import Dataset

BOOTSTRAP_STREAM = 1  # the bootstrap draw's stream of a seed: default_rng([seed, BOOTSTRAP_STREAM])
COPY_MARK = "#"  # a sample drawn again: name#2, name#3, ...


def sample_kinds(dataset: Dataset) -> list[np.ndarray]:
    """Positions of the samples of each kind, each drawn among its own: controls
    (:meth:`~mtlgrn_core.inputs.data.Dataset.control_samples`), the other unperturbed samples, the perturbed ones (of
    measured genes and of regulators the expression does not measure)."""
    controls = dataset.control_samples()
    perturbed = np.array(sorted({p.sample for p in dataset.perturbations()}
                                | {p[0] for p in dataset.outside_perturbations()}), dtype=np.int64)
    others = np.setdiff1d(np.arange(len(dataset.samples)), np.union1d(controls, perturbed))
    return [controls, others, perturbed]


def bootstrap_draws(dataset: Dataset, seed: int) -> np.ndarray:
    """Positions (ascending, repeated as drawn) of the samples the bootstrap member of ``seed`` trains on: as many
    of each kind (:func:`sample_kinds`) as ``dataset`` has, drawn with replacement."""
    rng = np.random.default_rng([seed, BOOTSTRAP_STREAM])
    drawn = [rng.choice(kind, size=kind.size) for kind in sample_kinds(dataset) if kind.size]
    return np.sort(np.concatenate(drawn)).astype(np.int64)


def bootstrap_dataset(dataset: Dataset, seed: int) -> Dataset:
    """What the bootstrap member of ``seed`` trains on: ``dataset`` resampled at :func:`bootstrap_draws`."""
    return resampled(dataset, bootstrap_draws(dataset, seed))


def bootstrap_info(dataset: Dataset, seed: int) -> dict:
    """What a bootstrap member's run info says of its resample: its seed, how many samples it drew and how many
    distinct ones."""
    draws = bootstrap_draws(dataset, seed)
    return {"seed": int(seed), "samples": int(draws.size), "distinct": int(np.unique(draws).size)}


def resampled(dataset: Dataset, draws: np.ndarray) -> Dataset:
    """``dataset`` with the samples at positions ``draws`` (repeats allowed), each repeat a sample of its own
    (:func:`copy_names`) with its expression, sample-sheet row and sample info."""
    originals = [dataset.samples[j] for j in draws]
    names = copy_names(originals)
    info = None
    if dataset.sample_info is not None:
        info = dataset.sample_info.iloc[draws].copy()
        info.index = pd.Index(names, name=dataset.sample_info.index.name)
    return replace(dataset, samples=tuple(names), expression=np.ascontiguousarray(dataset.expression[:, draws]),
                   sample_sheet=_resampled_sheet(dataset.sample_sheet, originals, names), sample_info=info,
                   warnings=list(dataset.warnings))


def copy_names(names: list[str]) -> list[str]:
    """Unique names for drawn samples: the first draw of a sample keeps its name, the k-th is ``name#k`` (more
    marks where a sample of the data already has that name)."""
    taken, seen, out = set(names), Counter(), []
    for name in names:
        seen[name] += 1
        new = name
        if seen[name] > 1:
            new = f"{name}{COPY_MARK}{seen[name]}"
            while new in taken:
                new += COPY_MARK
            taken.add(new)
        out.append(new)
    return out


def _resampled_sheet(sheet: pd.DataFrame | None, originals: list[str], names: list[str]) -> pd.DataFrame | None:
    """The sample sheet's row of each drawn sample (of those it describes), under the sample's new name."""
    if sheet is None:
        return None
    drawn = pd.DataFrame({"original": originals, "name": names})
    rows = drawn.merge(sheet, left_on="original", right_on="sample", how="inner", sort=False)
    return rows.assign(sample=rows["name"])[list(sheet.columns)].reset_index(drop=True)
