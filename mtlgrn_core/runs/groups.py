"""One dataset per cell group: the samples of each value of a sample column (cell type, cluster, condition),
so that a network can be trained per group with shared settings and compared across groups."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.data import Dataset
from mtlgrn_core.runs.run_folder import save_run

MIN_GROUP_SAMPLES = 10  # fewer samples than this cannot hold out validation and test pairs meaningfully


def group_datasets(dataset: Dataset, column: str) -> tuple[dict[str, Dataset], list[str]]:
    """``{value: the dataset restricted to its samples}`` for each value of ``sample_info[column]`` with at
    least :data:`MIN_GROUP_SAMPLES` samples, and notes on the groups left out.

    Raises
    ------
    DataValidationError
        When the samples have no such column, it holds one value, or no group is large enough.
    """
    info = dataset.sample_info
    if info is None or column not in info.columns:
        have = [] if info is None else [str(c) for c in info.columns]
        raise DataValidationError(
            f"the samples have no column {column!r} to group by"
            + (f"; their columns: {', '.join(repr(c) for c in have)}." if have else
               ": give an .h5ad and name one of its obs columns, or a sample_info.csv with that column."))
    labels = info[column].astype(str)
    counts = labels.value_counts()
    if len(counts) < 2:
        raise DataValidationError(f"column {column!r} holds one value ({counts.index[0]!r}) for every sample: there "
                                  "are no groups to compare. Choose another column.")
    groups, notes = {}, []
    for value in sorted(counts.index):
        members = set(labels.index[labels == value])
        if len(members) < MIN_GROUP_SAMPLES:
            notes.append(f"group {value!r} has {len(members)} samples (fewer than {MIN_GROUP_SAMPLES}) and is left "
                         "out; raise the sample budget to give it more metacells.")
            continue
        groups[value] = dataset.without_samples(set(dataset.samples) - members)
    if not groups:
        raise DataValidationError(f"no group of column {column!r} has {MIN_GROUP_SAMPLES} samples or more: raise the "
                                  "sample budget (metacells per group) or choose a coarser column.")
    return groups, notes


def folder_names(values) -> dict[str, str]:
    """A distinct, file-system-safe folder name for each group value (``T cell`` -> ``T_cell``)."""
    out, used = {}, set()
    for value in values:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("._") or "group"
        name, k = base, 2
        while name.lower() in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name.lower())
        out[value] = name
    return out


@dataclass(frozen=True)
class GroupRuns:
    """What :func:`train_groups` saved: the run ids, and notes on the groups left out."""

    run_ids: list[str]
    notes: list[str]


def train_groups(workspace, dataset_id: str, column: str, config, name: str, on_step=None,
                 stop=None) -> GroupRuns:
    """Train one run per group of a workspace dataset (same settings): each group is stored as a dataset of its
    own and its run saved in the workspace with ``info["group"] = {column, value, batch}`` (``batch`` ties the
    runs of one call together for :mod:`mtlgrn_core.answers.group_comparison`). A stop ends after the group being
    trained (the runs saved so far stay)."""
    import secrets

    from mtlgrn_core.model.train import fit

    dataset = workspace.load_dataset(dataset_id)
    groups, notes = group_datasets(dataset, column)
    batch, run_ids = secrets.token_hex(4), []
    for k, (value, group) in enumerate(groups.items()):
        if stop is not None and stop.is_set():
            break
        if on_step is not None:
            on_step(k, len(groups), f"training group {value!r} ({len(group.samples)} samples)")
        label = f"{name} — {value}"
        group_id = workspace.save_dataset(group, f"{dataset.name} — {value}")
        run = fit(group, config, stop=stop)
        run.info.update({"name": label, "dataset_id": group_id,
                         "group": {"column": column, "value": value, "batch": batch}})
        run_ids.append(save_run(run, workspace.new_run_path(label)).name)
    if on_step is not None:
        on_step(len(groups), len(groups), f"{len(run_ids)} of {len(groups)} groups trained")
    return GroupRuns(run_ids, notes)


def batch_runs(workspace, batch: str) -> dict[str, str]:
    """``{group value: run id}`` of the runs one :func:`train_groups` call saved (newest first on clashes)."""
    out = {}
    for entry in workspace.runs():
        if entry.ok and entry.group and entry.group.get("batch") == batch:
            out.setdefault(str(entry.group["value"]), entry.id)
    return dict(sorted(out.items()))
