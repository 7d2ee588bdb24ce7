"""Networks and knockouts of several runs side by side (one run per cell group, ``train --groups``): which
edges each group's network holds, which regulators change their targets most between groups, and one knockout
predicted in every group."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from mtlgrn_core.answers.infer import ExtrapolationWarning, predict_knockout, score_edges
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.run import Run

DEFAULT_TOP = 500


def edge_presence(runs: Mapping[str, Run], top: int = DEFAULT_TOP) -> pd.DataFrame:
    """The union of each run's ``top`` best edges: ``source, target``, one ``score <group>`` column per run (its
    score of that pair, whether or not in its top; NaN beyond the pairs :func:`score_edges` keeps by default),
    ``in <group>`` (the pair is in that group's top) and
    ``groups`` (how many groups hold it), edges of one group only first, then by best score."""
    _check(runs)
    scored = {name: score_edges(run) for name, run in runs.items()}  # best first: a run's top is its head
    tops = {name: table.head(top) for name, table in scored.items()}
    pairs = pd.concat([t[["source", "target"]] for t in tops.values()]).drop_duplicates(ignore_index=True)
    out = pairs.copy()
    index = pd.MultiIndex.from_frame(pairs)
    for name, table in scored.items():
        out[f"score {name}"] = table.set_index(["source", "target"])["score"].reindex(index).to_numpy()
    for name, table in tops.items():
        held = set(zip(table["source"], table["target"]))
        out[f"in {name}"] = [pair in held for pair in zip(pairs["source"], pairs["target"])]
    out["groups"] = out[[f"in {name}" for name in runs]].sum(axis=1)
    best = out[[f"score {name}" for name in runs]].max(axis=1)
    order = np.lexsort((-best.to_numpy(), out["groups"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)


def regulator_rewiring(presence: pd.DataFrame, groups: Sequence[str]) -> pd.DataFrame:
    """Per regulator of :func:`edge_presence`: its number of top targets in each group and how much its target
    set changes between groups (``rewiring``: the largest Jaccard distance over pairs of groups, 1 = no shared
    target), most rewired first."""
    rows = []
    for regulator, edges in presence.groupby("source", sort=False):
        targets = {g: set(edges.loc[edges[f"in {g}"], "target"]) for g in groups}
        distance = max((_jaccard_distance(targets[a], targets[b]) for a, b in combinations(groups, 2)), default=0.0)
        rows.append({"regulator": regulator, **{f"targets {g}": len(targets[g]) for g in groups},
                     "rewiring": distance})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    total = table[[f"targets {g}" for g in groups]].sum(axis=1)
    return table.assign(_total=total).sort_values(["rewiring", "_total"], ascending=False, kind="stable") \
        .drop(columns="_total").reset_index(drop=True)


def knockout_across_groups(runs: Mapping[str, Run], genes: Sequence[str], dose: float = 0.0) -> pd.DataFrame:
    """Predicted change of every gene (rows) in each group's run (columns) after perturbing ``genes``; genes a
    run does not hold are NaN. Rows sorted by the largest change in any group. ``attrs["sources"]`` says
    where each group's prediction comes from."""
    _check(runs)
    columns, sources = {}, {}
    for name, run in runs.items():
        missing = [g for g in genes if g not in run.gene_index]
        if missing:
            raise DataValidationError(f"gene(s) {', '.join(missing)} are not in the run of group {name!r}.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            table = predict_knockout(run, list(genes), dose=dose)
        columns[name] = table.set_index("gene")["delta"]
        sources[name] = table.attrs["source"]
    matrix = pd.DataFrame(columns)
    matrix = matrix.drop(index=[g for g in genes if g in matrix.index])
    matrix = matrix.reindex(matrix.abs().max(axis=1).sort_values(ascending=False, kind="stable").index)
    matrix.attrs["sources"] = sources
    return matrix


def _jaccard_distance(a: set, b: set) -> float:
    union = a | b
    return 1.0 - len(a & b) / len(union) if union else 0.0


def _check(runs: Mapping[str, Run]) -> None:
    if len(runs) < 2:
        raise DataValidationError("compare at least two runs (one per group).")
