"""One dataset per cell group (mtlgrn_core.runs.groups)."""

import pandas as pd
import pytest

from mtlgrn_core import DataValidationError
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.runs.groups import MIN_GROUP_SAMPLES, folder_names, group_datasets


@pytest.fixture(scope="module")
def grouped():
    dataset = simulate(40, seed=1)
    n = len(dataset.samples)
    labels = ["liver"] * (n - MIN_GROUP_SAMPLES - 3) + ["lung"] * MIN_GROUP_SAMPLES + ["rare"] * 3
    dataset.sample_info = pd.DataFrame({"tissue": labels, "batch": "one"}, index=list(dataset.samples))
    return dataset


def test_each_group_keeps_only_its_samples_and_small_groups_are_named(grouped):
    groups, notes = group_datasets(grouped, "tissue")
    assert list(groups) == ["liver", "lung"]
    assert len(groups["lung"].samples) == MIN_GROUP_SAMPLES
    assert set(groups["lung"].samples) == set(grouped.sample_info.index[grouped.sample_info["tissue"] == "lung"])
    assert groups["liver"].expression.shape == (grouped.n_genes, len(groups["liver"].samples))
    assert notes == [f"group 'rare' has 3 samples (fewer than {MIN_GROUP_SAMPLES}) and is left out; raise the "
                     "sample budget to give it more metacells."]


@pytest.mark.parametrize("column, message", [
    ("cell_type", "the samples have no column 'cell_type' to group by; their columns: 'tissue', 'batch'."),
    ("batch", "column 'batch' holds one value ('one') for every sample"),
])
def test_a_column_that_cannot_group_is_refused_with_its_reason(grouped, column, message):
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        group_datasets(grouped, column)


def test_folder_names_are_safe_and_distinct():
    assert folder_names(["T cell", "T/cell", "B cell", "../x"]) == {"T cell": "T_cell", "T/cell": "T_cell_2",
                                                                   "B cell": "B_cell", "../x": "x"}
