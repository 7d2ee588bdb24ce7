"""The computations behind the Knockout page: predicted knockouts with their warnings, comparisons of
several queries, the measured change where the data hold it, and the network around the perturbed genes."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtlgrn_core.answers.infer import TABLE_ATTRS, dose_warnings, predict_knockout
from mtlgrn_core.evaluation.edge_evaluation import model_pair_scores
from mtlgrn_core.evaluation.knockout_evaluation import TOP_DE
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.model.metrics import knockout_metrics
from mtlgrn_core.model.run import Run
from mtlgrn_core.runs.ensemble import Ensemble, ensemble_knockout


def dose_notes(run: Run, dose: float) -> list[str]:
    """What to be careful about at this dose (outside the doses seen in training, overexpression)."""
    return dose_warnings(run, np.array([float(dose)], dtype=np.float32))


def query_label(genes: Sequence[str], dose: float) -> str:
    """A short name for a query: ``G001+G002 knockout``, ``G001 at dose 0.5``."""
    what = "knockout" if dose == 0 else f"at dose {dose:g}"
    return f"{'+'.join(genes)} {what}"


def knockout_query(run: Run, genes: Sequence[str], dose: float, ensemble: Ensemble | None = None,
                   context: str | None = None) -> pd.DataFrame:
    """:func:`mtlgrn_core.answers.infer.predict_knockout` with its warnings captured, plus a standardised change; for an
    ensemble (``run`` its first member), :func:`mtlgrn_core.runs.ensemble.ensemble_knockout`; ``context``: the
    samples it is predicted in (:mod:`mtlgrn_core.answers.contexts`; default the control samples).

    Returns
    -------
    pandas.DataFrame
        ``gene, baseline, predicted, delta, log2fc, z, perturbed`` sorted by decreasing ``|delta|``; ``z`` is
        the change in units of the gene's standard deviation over all samples (``delta / scale``); an
        ensemble's table has its spread too (``delta_sd, delta_low, delta_high, uncertain``, and ``z_low, z_high``
        in SDs).
        ``attrs["warnings"]`` lists the dose / extrapolation warnings; ``attrs["source"]`` says where the
        prediction comes from (:func:`mtlgrn_core.answers.infer.prediction_source`); an ensemble's ``attrs["members"]``
        says how many runs made it, ``attrs["bootstrap"]`` and ``attrs["spread"]`` what its spread means;
        ``evidence``, ``not_measured`` and ``context`` as :func:`~mtlgrn_core.answers.infer.predict_knockout` sets them.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if ensemble is None:
            table = predict_knockout(run, list(genes), dose=float(dose), samples=context)
        else:
            table = ensemble_knockout(ensemble, list(genes), dose=float(dose), samples=context)
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    scale = pd.Series(np.asarray(run.inputs.scale, dtype=np.float64), index=list(run.genes))
    gene_sd = scale[table["gene"]].to_numpy()
    table.insert(table.columns.get_loc("log2fc") + 1, "z", table["delta"].to_numpy() / gene_sd)
    if "delta_low" in table:
        table["z_low"], table["z_high"] = table["delta_low"] / gene_sd, table["delta_high"] / gene_sd
    kept = {k: table.attrs[k] for k in (*TABLE_ATTRS, "members", "bootstrap", "spread") if k in table.attrs}
    table.attrs = {**kept, "warnings": notes}
    return table


def table_csv(table: pd.DataFrame) -> bytes:
    """A knockout table as CSV bytes (no index)."""
    return table.to_csv(index=False).encode()


def comparison_matrix(tables: dict[str, pd.DataFrame], *, top: int = 30, value: str = "delta") -> pd.DataFrame:
    """Genes x queries of predicted change, for a heatmap comparing several knockouts.

    Parameters
    ----------
    tables
        Query label -> :func:`knockout_query` table.
    top
        Keep the ``top`` genes with the largest ``|value|`` in any query (perturbed genes excluded, since
        their change is set by the dose). Default 30.
    value
        Column to compare (default ``"delta"``; ``"z"`` for standard-deviation units).
    """
    if not tables:
        return pd.DataFrame()
    matrix = pd.concat({label: t.set_index("gene")[value] for label, t in tables.items()}, axis=1)
    perturbed = set().union(*(t.loc[t["perturbed"], "gene"] for t in tables.values()))
    matrix = matrix.drop(index=[g for g in perturbed if g in matrix.index])
    order = matrix.abs().max(axis=1).sort_values(ascending=False, kind="stable").index[:top]
    return matrix.loc[order]


@dataclass
class MeasuredKnockout:
    """Measured change after a perturbation found in the dataset's sample sheet.

    Attributes
    ----------
    samples
        Names of the samples averaged.
    delta
        Mean of those samples minus the control baseline, per gene (dataset gene order).
    dose
        Dose of those samples.
    """

    samples: list[str]
    delta: np.ndarray
    dose: float

    def seen_in_training(self, run: Run) -> bool:
        """Whether ``run`` was trained on these samples with its knockout task (then it is no test)."""
        return "knockout" in run.tasks and set(self.samples) <= set(run.samples)


def measured_knockout(dataset: Dataset, genes: Sequence[str], dose: float, *,
                      tol: float = 1e-6) -> MeasuredKnockout | None:
    """The measured perturbation of exactly ``genes`` at ``dose`` in the dataset, or ``None``.

    Samples whose sample-sheet perturbation is exactly this set of genes at this dose are averaged (for
    ``dose`` 0: knockout samples).
    """
    wanted = {dataset.gene_index[g] for g in genes if g in dataset.gene_index}
    if len(wanted) != len(set(genes)):
        return None
    cols = [p.sample for p in dataset.perturbations() if set(p.genes) == wanted and abs(p.dose - dose) <= tol]
    if not cols:
        return None
    x = dataset.expression[:, cols].astype(np.float64).mean(axis=1)
    return MeasuredKnockout([dataset.samples[j] for j in cols], x - dataset.baseline().astype(np.float64),
                            float(dose))


def compare_with_measured(table: pd.DataFrame, measured: MeasuredKnockout, dataset_genes: Sequence[str],
                          *, top: int = TOP_DE) -> tuple[pd.DataFrame, dict[str, float]]:
    """Predicted against measured change of every gene (the perturbed genes left out).

    Returns
    -------
    (pandas.DataFrame, dict)
        ``gene, predicted, measured`` for every gene not perturbed; and the BENCHMARK.md section 2 metrics
        (``pearson_all`` = Pearson r over those genes, ``pearson_top``, ``sign_acc_top``, ``rmse``).
    """
    measured_delta = pd.Series(measured.delta, index=list(dataset_genes))
    frame = table.loc[~table["perturbed"], ["gene", "delta"]].rename(columns={"delta": "predicted"})
    frame = frame[frame["gene"].isin(measured_delta.index)].reset_index(drop=True)
    frame["measured"] = measured_delta[frame["gene"]].to_numpy()
    metrics = knockout_metrics(frame["predicted"].to_numpy(), frame["measured"].to_numpy(),
                                        np.zeros(0, dtype=np.int64), top=top)
    return frame, metrics


def knockout_neighbourhood(run: Run, table: pd.DataFrame, genes: Sequence[str], *, max_targets: int = 25,
                           min_score: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The knocked-out genes and their targets (known from the prior, or predicted by the model).

    For each perturbed gene that is a regulator, its targets are its prior targets and the genes the model
    scores at least ``min_score`` as its targets; at most ``max_targets`` are kept per gene, the most changed
    first. A perturbed regulator the run does not measure is drawn with its prior targets and a change of 0.

    Returns
    -------
    (nodes, edges)
        ``nodes``: ``gene, delta, z, perturbed``; ``edges``: ``source, target, score, known`` (``known``: in the
        prior the run was given).
    """
    delta = table.set_index("gene")
    prior = pd.concat([run.prior, run.outside_prior], ignore_index=True)  # a regulator it does not measure too
    edges = []
    for gene in dict.fromkeys(genes):
        known = set(prior.loc[prior["source"] == gene, "target"])
        scores = pd.Series(dtype=np.float64)
        if gene in run.tfs:
            others = np.array([i for i in range(len(run.genes)) if i != run.gene_index[gene]], dtype=np.int64)
            values = model_pair_scores(run, np.full(others.size, run.gene_index[gene]), others)
            scores = pd.Series(values, index=np.asarray(run.genes, dtype=object)[others])
        chosen = known | set(scores.index[scores.to_numpy() >= min_score])
        chosen.discard(gene)
        ranked = sorted(chosen, key=lambda g: (g not in known, -abs(float(delta.at[g, "delta"])), g))
        ranked = sorted(ranked[:max_targets], key=lambda g: -abs(float(delta.at[g, "delta"])))
        edges += [{"source": gene, "target": t, "score": float(scores.get(t, np.nan)), "known": t in known}
                  for t in ranked]
    edge_frame = pd.DataFrame(edges, columns=["source", "target", "score", "known"])
    names = list(dict.fromkeys([*genes, *edge_frame["target"]]))
    missing = [n for n in names if n not in delta.index]  # a regulator not measured has no level to show
    shown = pd.concat([delta.loc[[n for n in names if n in delta.index], ["delta", "z", "perturbed"]],
                       pd.DataFrame({"delta": 0.0, "z": 0.0, "perturbed": True}, index=missing)])
    nodes = shown.loc[names].rename_axis("gene").reset_index()
    return nodes, edge_frame
