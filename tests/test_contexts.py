"""A knockout in a context (issue 25, item 4): predicted from the mean expression of a cell group, condition or
named samples instead of the control samples (mtlgrn_core.answers.contexts)."""

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.answers.contexts import context_options, resolve_context
from mtlgrn_core.answers.infer import predict_knockout
from mtlgrn_core.cli import main
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import build_dataset
from mtlgrn_core.model.train import fit
from mtlgrn_core.runs.run_folder import load_run, save_run
from tests.conftest import FAST


@pytest.fixture(scope="module")
def grouped(dataset):
    """The simulated dataset without its sample sheet (an observational run: changes are linear in the level
    taken away), its samples in two groups, the first prior regulator three times as high in group A."""
    expression = dataset.expression.astype(np.float64).copy()
    n = expression.shape[1]
    groups = np.where(np.arange(n) < n // 2, "A", "B")
    regulator = dataset.prior["source"].iloc[0]
    row = dataset.genes.index(regulator)
    expression[row, groups == "A"] *= 3.0
    info = pd.DataFrame({"cell_type": groups, "batch": np.where(np.arange(n) % 2, "b1", "b2")},
                        index=pd.Index(dataset.samples, name="sample"))
    data = build_dataset(genes=list(dataset.genes), samples=list(dataset.samples), expression=expression,
                         prior=dataset.prior, tfs=list(dataset.tfs), log_transform=False, sample_info=info)
    return data, regulator, groups


@pytest.fixture(scope="module")
def grouped_run(grouped, tmp_path_factory):
    data, _, _ = grouped
    return load_run(save_run(fit(data, FAST), tmp_path_factory.mktemp("runs") / "grouped"))


def test_a_context_is_its_samples_mean_expression(grouped, grouped_run):
    data, _, groups = grouped
    for spec in ("cell_type=A", "A"):
        context = resolve_context(grouped_run, spec)
        assert context.columns.tolist() == np.flatnonzero(groups == "A").tolist()
        assert context.baseline == pytest.approx(data.expression[:, groups == "A"].mean(axis=1), rel=1e-4, abs=1e-4)
    named = resolve_context(grouped_run, ",".join(data.samples[:3]))
    assert named.columns.tolist() == [0, 1, 2]
    assert "cell_type=A" in context_options(grouped_run) and "batch=b1" in context_options(grouped_run)


def test_a_knockout_where_the_regulator_is_higher_moves_its_targets_further(grouped, grouped_run):
    data, regulator, groups = grouped
    in_a = predict_knockout(grouped_run, regulator, samples="cell_type=A").set_index("gene")
    in_b = predict_knockout(grouped_run, regulator, samples="cell_type=B").set_index("gene")
    assert "in the context cell_type=A" in in_a.attrs["context"]
    assert in_a["baseline"].reindex(grouped_run.genes).to_numpy() == pytest.approx(
        resolve_context(grouped_run, "A").baseline)
    others = [g for g in data.genes if g != regulator]
    moved = in_b.loc[others, "delta"].abs() > 1e-6
    assert moved.any()
    ratio = (in_a.loc[others, "delta"][moved] / in_b.loc[others, "delta"][moved]).to_numpy()
    level = resolve_context(grouped_run, "A").baseline / resolve_context(grouped_run, "B").baseline
    assert ratio == pytest.approx(level[data.genes.index(regulator)], rel=1e-3)  # linear in the level taken away


def test_a_context_that_names_nothing_is_refused_with_what_there_is(grouped_run):
    with pytest.raises(DataValidationError, match="no column 'tissue'.*cell_type, batch"):
        resolve_context(grouped_run, "tissue=liver")
    with pytest.raises(DataValidationError, match="'cell_type=C' holds no sample: column 'cell_type' has the "
                                                  "values A, B"):
        resolve_context(grouped_run, "cell_type=C")
    with pytest.raises(DataValidationError, match="matches no sample: 'nope' is not among"):
        resolve_context(grouped_run, "nope")


def test_a_value_of_two_columns_must_name_its_column(grouped_run):
    grouped_run.sample_info = grouped_run.sample_info.assign(other=grouped_run.sample_info["cell_type"])
    try:
        with pytest.raises(DataValidationError, match="several sample columns .*cell_type=A"):
            resolve_context(grouped_run, "A")
    finally:
        grouped_run.sample_info = grouped_run.sample_info.drop(columns="other")


def test_a_run_saved_before_contexts_says_to_train_again(grouped_run, monkeypatch):
    monkeypatch.setattr(grouped_run.inputs, "center", None)
    with pytest.raises(DataValidationError, match="Train it again"):
        predict_knockout(grouped_run, grouped_run.genes[0], samples="A")


def test_the_command_line_predicts_in_a_context(grouped, grouped_run, tmp_path, capsys):
    _, regulator, _ = grouped
    out = tmp_path / "ko.csv"
    assert main(["knockout", "--run", str(grouped_run.path), "--genes", regulator, "--samples", "cell_type=A",
                 "--out", str(out)]) in (None, 0)
    table = pd.read_csv(out).set_index("gene")
    assert table["baseline"].to_numpy() == pytest.approx(
        pd.Series(resolve_context(grouped_run, "A").baseline, index=grouped_run.genes)[table.index].to_numpy(),
        rel=1e-5)
    assert "in the context cell_type=A" in capsys.readouterr().err
    (tmp_path / "many.txt").write_text(f"{regulator}\n")
    assert main(["knockout", "--run", str(grouped_run.path), "--genes-file", str(tmp_path / "many.txt"),
                 "--samples", "A", "--out", str(out)]) == 2
    assert "--samples applies to one perturbation" in capsys.readouterr().err
