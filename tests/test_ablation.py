"""mtlgrn_core.evaluation.ablation: the variants, one split for all, the table."""

import threading
from dataclasses import replace

import pytest

from mtlgrn_core.evaluation import ablation
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.progress import TaskStopped
from mtlgrn_core.viz import evaluate as viz_eval
from tests.conftest import FAST


def test_ablation_variants_and_table(dataset, run):
    names = [name for name, _ in ablation.ablation_variants(dataset, FAST)]
    assert names[0] == "full model"
    assert {"without the edge task", "without the knockout task", "without the expression task",
            "without promoter features", "without knockout features"} <= set(names)
    assert {ablation.NO_PAIR_EVIDENCE, ablation.EVIDENCE_ONLY, ablation.FULL_DECODER, ablation.NO_SIMILARITY,
            ablation.NO_GRAPH} <= set(names)
    always_full = replace(FAST, edge_decoder="full")  # nothing to choose: no "full decoder always" variant
    assert ablation.FULL_DECODER not in [name for name, _ in ablation.ablation_variants(dataset, always_full)]
    only_expression = TrainConfig(epochs=2, modalities=("expression",))
    assert not any("features" in n for n, _ in ablation.ablation_variants(dataset, only_expression))
    steps = []
    table = ablation.ablation(dataset, FAST, on_step=lambda *a: steps.append(a))
    assert list(table["variant"]) == names
    assert table.loc[0, "auprc"] == pytest.approx(run.metrics["test"]["auprc"], abs=1e-4)
    assert table.loc[0, "auprc_change"] == 0
    assert "knockout" not in table.loc[names.index("without the knockout task"), "tasks"]
    assert steps[-1][:2] == (len(names), len(names))
    fig = viz_eval.ablation_figure(table)
    assert len(fig.data[0].y) == table["auprc"].notna().sum()


def test_ablation_does_not_vary_a_task_without_its_data(dataset):
    without_perturbations = dataset.without_samples({s for s in dataset.samples if s.startswith(("ko_", "kd_"))})
    without_perturbations = replace(without_perturbations, sample_sheet=None)
    names = [name for name, _ in ablation.ablation_variants(without_perturbations, FAST)]
    assert "without the knockout task" not in names
    assert {"without the edge task", "without the expression task"} <= set(names)


def test_ablation_stops():
    stop = threading.Event()
    stop.set()
    with pytest.raises(TaskStopped):
        ablation.ablation(simulate(30, seed=0), FAST, stop=stop)


