"""A knockout in a context (issue 25): the same TF deleted in different cells or conditions changes different genes,
because it acts where it is expressed. A context is a set of the run's samples (a cell group, a condition: a value
of a sample column, or samples named one by one); its mean expression replaces the control baseline a knockout is
predicted from (:func:`mtlgrn_core.answers.infer.predict_knockout`'s ``samples``): the perturbed genes lose their level
in that context, and every change is added to the context's levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mtlgrn_core.errors import DataValidationError

if TYPE_CHECKING:
    from mtlgrn_core.model.run import Run

MIN_CONTEXT_SAMPLES = 1


@dataclass(frozen=True)
class Context:
    """The samples of a context (columns of the run's expression), how the user named it, and its mean level of
    every gene (original units)."""

    label: str
    columns: np.ndarray
    baseline: np.ndarray

    def describe(self) -> str:
        return f"in the context {self.label} ({self.columns.size} sample{'s' if self.columns.size != 1 else ''})"


def context_options(run: "Run") -> list[str]:
    """Every ``column=value`` of the run's sample information (the contexts a page offers), sorted."""
    info = run.sample_info
    if info is None:
        return []
    return sorted(f"{column}={value}" for column in info.columns for value in set(info[column].astype(str)))


def resolve_context(run: "Run", spec: str | Sequence[str], *, noun: str = "context") -> Context:
    """The context ``spec`` names: ``column=value`` of the sample information, a value of one of its columns,
    or sample names (a list, or a comma-separated string). ``noun``: what the messages call it (a screen's
    "group").

    Raises
    ------
    DataValidationError
        Naming the spec and what it could have been (the sample columns and some values, some sample names)
        when it matches no sample, several columns, or the run cannot give a sample's level back.
    """
    if run.inputs.center is None:
        raise DataValidationError("this run was saved before knockouts in a context existed and cannot give a "
                                  "sample's expression back. Train it again to predict in a context.")
    names = [spec] if isinstance(spec, str) else list(spec)
    label = ", ".join(names)
    columns = _by_sample_info(run, names[0], noun) if len(names) == 1 else None
    if columns is None:
        columns = _by_sample_names(run, [n.strip() for name in names for n in name.split(",") if n.strip()], label,
                                   noun)
    levels = run.inputs.center.astype(np.float64)[:, None] + run.inputs.scale.astype(np.float64)[:, None] * \
        run.inputs.expression[:, columns].astype(np.float64)
    return Context(label=label, columns=columns, baseline=levels.mean(axis=1))


def _by_sample_info(run: "Run", spec: str, noun: str) -> np.ndarray | None:
    """The samples of ``column=value`` or of a value found in exactly one column; None when ``spec`` is neither
    (it may be sample names)."""
    info = run.sample_info
    if info is None:
        return None
    column, _, value = spec.partition("=")
    if value and column.strip() in info.columns:
        matches = {column.strip(): value.strip()}
    else:
        matches = {c: spec.strip() for c in info.columns if (info[c].astype(str) == spec.strip()).any()}
    if len(matches) > 1:
        raise DataValidationError(f"{noun} '{spec}' is a value of several sample columns "
                                  f"({', '.join(matches)}): write it as column=value, e.g. "
                                  f"{next(iter(matches))}={spec.strip()}.")
    if not matches:
        if value and column.strip() not in info.columns:
            raise DataValidationError(f"{noun} '{spec}': the samples have no column '{column.strip()}'; their "
                                      f"columns: {', '.join(map(str, info.columns))}.")
        return None
    (column, value), = matches.items()
    chosen = info.index[info[column].astype(str) == value]
    positions = {s: j for j, s in enumerate(run.samples)}
    columns = np.array([positions[s] for s in chosen if s in positions], dtype=np.int64)
    if columns.size < MIN_CONTEXT_SAMPLES:
        shown = ", ".join(sorted(set(info[column].astype(str)))[:8])
        raise DataValidationError(f"{noun} '{spec}' holds no sample: column '{column}' has the values {shown}.")
    return columns


def _by_sample_names(run: "Run", names: list[str], label: str, noun: str) -> np.ndarray:
    positions = {s: j for j, s in enumerate(run.samples)}
    missing = [n for n in names if n not in positions]
    if missing or not names:
        columns = "" if run.sample_info is None else (
            f" or a value of a sample column ({', '.join(map(str, run.sample_info.columns))}; as column=value)")
        raise DataValidationError(f"{noun} '{label}' matches no sample: {', '.join(repr(m) for m in missing[:5])} "
                                  f"{'is' if len(missing) == 1 else 'are'} not among this run's {len(run.samples)} "
                                  f"samples (e.g. {', '.join(run.samples[:3])}). Name samples{columns}.")
    return np.array([positions[n] for n in dict.fromkeys(names)], dtype=np.int64)
