"""mtlgrn_core.evaluation.knockout_evaluation: knockout cross-validation where a held-out gene is unseen."""

import pandas as pd
import pytest

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.evaluation import knockout_evaluation
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.methods import LINEAR, MEAN_DELTA, MEAN_PLUS_LINEAR, MODEL, ZERO
from mtlgrn_core.model.metrics import KNOCKOUT_METRICS
from tests.conftest import FAST


def test_knockout_cross_validation(dataset):
    progress = []
    table = knockout_evaluation.knockout_cross_validation(dataset, FAST, folds=3, on_fold=lambda *a: progress.append(a))
    assert list(table.index) == [MODEL, ZERO, MEAN_DELTA, LINEAR, MEAN_PLUS_LINEAR]
    assert list(table.columns) == [*KNOCKOUT_METRICS, "n"]
    assert (table["n"] == len(knockout_evaluation.measured_knockouts(dataset))).all()
    assert table.loc[ZERO, "pearson_all"] == 0
    assert table[["pearson_all", "pearson_top"]].abs().le(1).all().all()
    assert [p[0] for p in progress] == [0, 1, 2, 3]
    rows = pd.DataFrame(table.attrs["per_knockout"])
    assert set(rows["fold"]) == {0, 1, 2} and rows.groupby("method").size().nunique() == 1


def test_knockout_cross_validation_needs_knockouts():
    few = simulate(30, seed=0, knockouts=3, knockdowns="none", n_double_knockouts=0)
    with pytest.raises(DataValidationError, match="at least 5 genes"):
        knockout_evaluation.knockout_cross_validation(few, FAST)




def test_a_held_out_gene_leaves_no_sample_in_its_fold(dataset, monkeypatch):
    import mtlgrn_core.model.train as train

    perts = dataset.perturbations()
    assert any(0 < p.dose < 1 for p in perts) and any(len(p.genes) == 2 for p in perts)  # there is more to drop
    trained_on, real_fit = [], train.fit

    def spy(data, config, **kwargs):
        trained_on.append(data)
        return real_fit(data, config, **kwargs)

    monkeypatch.setattr(train, "fit", spy)
    table = knockout_evaluation.knockout_cross_validation(dataset, FAST, folds=3)
    rows = pd.DataFrame(table.attrs["per_knockout"])
    assert len(trained_on) == 3
    more_than_knockouts = 0
    for fold, data in enumerate(trained_on):
        held = {dataset.gene_index[g] for g in rows.loc[rows["fold"] == fold, "gene"]}
        assert held and not held & {g for p in data.perturbations() for g in p.genes}
        assert set(data.samples) == set(dataset.samples) - dataset.samples_perturbing(held)
        more_than_knockouts += any((p.dose != 0 or len(p.genes) > 1) and held & set(p.genes) for p in perts)
    assert more_than_knockouts  # a held-out gene's knockdown or double knockout was among the data


def test_variants_are_rows_of_the_table(dataset):
    table = knockout_evaluation.knockout_cross_validation(
        dataset, FAST, folds=3, variants=[("full model", FAST), ("without message passing", FAST)])
    assert list(table.index) == [MODEL, f"{MODEL} without message passing", ZERO, MEAN_DELTA, LINEAR,
                                 MEAN_PLUS_LINEAR]
    assert {f["method"] for f in table.attrs["fits"]} == {MODEL, f"{MODEL} without message passing"}
