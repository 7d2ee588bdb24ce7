"""Prior networks as public databases export them, matched to the genes an experiment measured.

- :func:`read_edges`: TRRUST (``TF, target, mode``; the shipped table puts ``target`` first), DoRothEA /
  CollecTRI (``source, target, weight`` or ``mor``, a ``confidence`` level A-E), SCENIC / GRNBoost
  adjacencies (``TF, target, importance``), and plain lists ``source, target[, sign]`` with or without a header
  (a third column of 0/1 is read as a DREAM-style label). Columns are found by their names; signs come from a
  mode / mor / sign column or the sign of a weight; a confidence or importance column can filter the edges.
- :func:`match_prior`: the edges between measured genes are kept and the rest reported as a note (a database
  names far more genes than one experiment measures). Names that match a measured gene only up to case or an
  Ensembl / RefSeq version suffix (a human ``SOX2`` against a mouse ``Sox2``) are renamed when the match is
  unique. Only a prior with no edge left is refused, with what its identifiers look like beside the
  expression's.
- :func:`candidate_regulators`: the genes scored as regulators: a TF list when given, else the regulators of
  the prior (genes with an outgoing edge), or every gene when asked for.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.inputs.gene_names import gene_key
from mtlgrn_core.inputs.tables import read_table, strip_quotes

SIGNS = {"+": 1, "1": 1, "activation": 1, "activator": 1, "+1": 1, "activating": 1, "positive": 1,
         "-": -1, "-1": -1, "repression": -1, "repressor": -1, "repressing": -1, "inhibition": -1, "negative": -1,
         "": 0, "+-": 0, "-+": 0, "?": 0, "0": 0, "nan": 0, "unknown": 0, "dual": 0, "na": 0}
SOURCE_COLUMNS = ("source", "tf", "regulator", "from", "gene1", "tf_symbol", "source_genesymbol")
TARGET_COLUMNS = ("target", "to", "gene2", "target_gene", "target_symbol", "target_genesymbol")
SIGN_COLUMNS = ("sign", "mode", "modulation", "mor", "regulation", "effect")
WEIGHT_COLUMNS = ("weight",)  # a signed number: its sign is the edge's
CONFIDENCE_COLUMNS = ("confidence", "importance", "score", "level")
CONFIDENCE_LEVELS = ("A", "B", "C", "D", "E")  # DoRothEA: A most confident
REGULATOR_RULES = ("prior", "all")
_ID_KINDS = (("Ensembl ids", re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")),
             ("Entrez ids", re.compile(r"^\d+$")),
             ("RefSeq ids", re.compile(r"^[NX][MR]_\d+(\.\d+)?$")))


def read_edges(path: Path, *, warnings: list[str] | None = None,
               min_confidence: str | float | None = None) -> pd.DataFrame:
    """Read a network as ``source, target, sign`` (sign +1, -1 or 0 = unknown); drop repeated edges and
    self-loops (with a note in ``warnings``).

    Parameters
    ----------
    path
        A CSV / TSV (optionally gzipped) in one of the layouts of the module docstring.
    warnings
        Gets a sentence for what was read from which column, and for each kind of dropped edge.
    min_confidence
        Keep only the edges at least this confident: a DoRothEA level (``"C"`` keeps A, B and C) or a number
        (edges whose confidence / importance / score is at least it). Default: keep every edge.

    Raises
    ------
    DataValidationError
        A sign that is not understood, an empty gene name, or a threshold without a confidence column.
    """
    path = Path(path)
    table = read_table(path, header=False, need="at least two columns: source,target[,sign]")
    columns = _columns(table, path.name, warnings)
    offset = 2 if columns["header"] else 1
    body = table.iloc[1:] if columns["header"] else table
    src, dst = strip_quotes(body.iloc[:, columns["source"]]), strip_quotes(body.iloc[:, columns["target"]])
    for k, (s, t) in enumerate(zip(src, dst)):
        if not s or not t:
            raise DataValidationError("an edge has an empty gene name. Fill both source and target.",
                                      file=path.name, line=k + offset)
    keep = np.ones(len(src), dtype=bool)
    signs = np.zeros(len(src), dtype=np.int64)
    confidence = None
    third = columns.get("third")
    if third is not None:  # a headerless third column: a 0/1 label, signs, or importances
        raw = strip_quotes(body.iloc[:, third])
        kind = _third_column_kind(raw)
        if kind == "label":
            keep = np.array([r == "1" for r in raw])
        elif kind == "importance":
            confidence = np.array([float(r) for r in raw])
        else:
            signs = _signs(raw, path.name, offset)
    if columns.get("sign") is not None:
        signs = _signs(strip_quotes(body.iloc[:, columns["sign"]]), path.name, offset)
    elif columns.get("weight") is not None:
        signs = _signs(strip_quotes(body.iloc[:, columns["weight"]]), path.name, offset)
    if columns.get("confidence") is not None:
        confidence = np.array(strip_quotes(body.iloc[:, columns["confidence"]]), dtype=object)
    if min_confidence is not None:
        keep &= _confident(confidence, min_confidence, path.name, offset, warnings)
    edges = pd.DataFrame({"source": src, "target": dst, "sign": signs})[keep]
    loops = edges["source"] == edges["target"]
    repeated = edges.duplicated(["source", "target"]) & ~loops
    for mask, what, why in ((loops, "self-loop(s)", "a gene regulating itself is not modelled. Remove the line "
                                                    "to silence this."),
                            (repeated, "repeated edge(s)", "the first line of each edge is kept. Keep one line "
                                                           "per edge.")):
        if warnings is not None and mask.any():
            k = int(edges.index[mask.to_numpy()][0])
            warnings.append(f"{path.name}: {int(mask.sum())} {what} dropped (e.g. '{src[k]}' -> '{dst[k]}' on line "
                            f"{k + offset}); {why}")
    return edges[~loops & ~repeated].reset_index(drop=True)


def _columns(table: pd.DataFrame, file: str, warnings: list[str] | None) -> dict:
    """Where the source, target, sign, weight and confidence are: by header name where the first line is a
    header, else by position (source, target, then a third column of signs, labels or importances)."""
    first = [c.strip().strip('"').casefold() for c in table.iloc[0]]

    def find(names: tuple[str, ...]) -> int | None:
        return next((j for j, cell in enumerate(first) if cell in names), None)

    source, target = find(SOURCE_COLUMNS), find(TARGET_COLUMNS)
    if source is None or target is None:
        header = first[0] in SOURCE_COLUMNS or first[1] in TARGET_COLUMNS
        out = {"header": header, "source": 0, "target": 1}
        if table.shape[1] >= 3:
            out["third"] = 2
        return out
    out = {"header": True, "source": source, "target": target, "sign": find(SIGN_COLUMNS),
           "weight": find(WEIGHT_COLUMNS), "confidence": find(CONFIDENCE_COLUMNS)}
    if out["sign"] is None and out["weight"] is None and out["confidence"] is None and table.shape[1] >= 3 \
            and 2 not in (source, target):
        out["third"] = 2  # e.g. gene1,gene2,label: read like a headerless third column
    plain = (source, target) == (0, 1) and out["confidence"] is None and out["weight"] is None \
        and out["sign"] in (None, 2)
    if warnings is not None and not plain:
        names = [str(c).strip() for c in table.iloc[0]]
        used = [f"regulators from '{names[source]}'", f"targets from '{names[target]}'"]
        sign_column = out["sign"] if out["sign"] is not None else out["weight"]
        if sign_column is not None:
            used.append(f"signs from '{names[sign_column]}'")
        if out["confidence"] is not None:
            used.append(f"confidence from '{names[out['confidence']]}'")
        warnings.append(f"{file}: read as a database table: {', '.join(used)}.")
    return out


def _third_column_kind(raw: list[str]) -> str:
    """``label`` (0/1 with some 0: a DREAM edge list), ``importance`` (other non-negative numbers: GRNBoost
    without a header), or ``sign``."""
    values = {r.casefold() for r in raw}
    if values <= {"0", "1"} and "0" in values:
        return "label"
    numbers = [_number(r) for r in raw]
    if all(n is not None for n in numbers) and not values <= set(SIGNS) and min(numbers) >= 0:
        return "importance"
    return "sign"


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _signs(raw: list[str], file: str, offset: int) -> np.ndarray:
    out = np.zeros(len(raw), dtype=np.int64)
    for k, r in enumerate(raw):
        key = r.casefold()
        if key in SIGNS:
            out[k] = SIGNS[key]
        elif (value := _number(r)) is not None:
            out[k] = int(np.sign(value))
        else:
            raise DataValidationError(f"sign '{r}' is not understood. Use '+' (activation), '-' (repression), a "
                                      "signed number, or leave it empty.", file=file, line=k + offset)
    return out


def _confident(confidence, threshold: str | float, file: str, offset: int, warnings: list[str] | None) -> np.ndarray:
    """Which edges reach ``threshold`` (a level A-E or a number), with a note of how many did not."""
    if confidence is None:
        raise DataValidationError(f"has no confidence column ({', '.join(CONFIDENCE_COLUMNS)}), so the threshold "
                                  f"{threshold!r} cannot be applied. Remove the threshold or add the column.",
                                  file=file)
    level = str(threshold).strip().upper()
    if level in CONFIDENCE_LEVELS:
        values = [str(c).strip().upper() for c in confidence]
        bad = [k for k, v in enumerate(values) if v not in CONFIDENCE_LEVELS]
        if bad:
            raise DataValidationError(f"confidence '{values[bad[0]]}' is not a level A-E, so the threshold {level} "
                                      "cannot be applied. Give a numeric threshold or fix the column.",
                                      file=file, line=bad[0] + offset)
        keep = np.array([CONFIDENCE_LEVELS.index(v) <= CONFIDENCE_LEVELS.index(level) for v in values])
        what = f"below confidence level {level}"
    else:
        limit = _number(str(threshold))
        if limit is None:
            raise DataValidationError(f"the confidence threshold {threshold!r} is neither a level A-E nor a number.",
                                      file=file)
        numbers = [_number(str(c)) for c in confidence]
        bad = [k for k, v in enumerate(numbers) if v is None]
        if bad:
            raise DataValidationError(f"confidence '{confidence[bad[0]]}' is not a number, so the threshold "
                                      f"{limit:g} cannot be applied. Give a level A-E or fix the column.",
                                      file=file, line=bad[0] + offset)
        keep = np.array(numbers) >= limit
        what = f"with a confidence below {limit:g}"
    if warnings is not None:
        warnings.append(f"{file}: {int((~keep).sum()):,} of {keep.size:,} edges {what} dropped "
                        f"({int(keep.sum()):,} kept).")
    return keep


# ----------------------------------------------------------------------------------------------------
# Matching the prior to the measured genes


MIN_EDGES_ONTO_MEASURED = 10  # a prior joining no two measured genes is still used when this many reach one


def match_prior(edges: pd.DataFrame, genes: Sequence[str], *, file: str, warnings: list[str],
                regulators_outside: bool = False) -> pd.DataFrame:
    """The edges between measured genes, names fixed where unambiguous; what was kept and dropped in ``warnings``.

    Raises
    ------
    DataValidationError
        When no edge joins two measured genes: then the message compares the identifiers of both files. With
        ``regulators_outside`` (a prior, whose unmeasured regulators can be knocked out through their targets:
        :func:`edges_from_unmeasured`), :data:`MIN_EDGES_ONTO_MEASURED` edges from unmeasured regulators onto
        measured genes are enough (fewer look like a prior of other identifiers): none is kept, and ``warnings``
        says so.
    """
    if len(edges) == 0:
        return edges.reset_index(drop=True)
    gene_set = set(genes)
    renamed = unambiguous_renames(set(edges["source"]) | set(edges["target"]), gene_set)
    if renamed:
        shown = ", ".join(f"'{a}' -> '{b}'" for a, b in list(renamed.items())[:3])
        warnings.append(f"{file}: {len(renamed)} gene names match a measured gene only up to case or version "
                        f"suffix and were renamed to it (e.g. {shown}).")
        edges = edges.assign(source=edges["source"].replace(renamed), target=edges["target"].replace(renamed))
        edges = edges.drop_duplicates(["source", "target"])
        edges = edges[edges["source"] != edges["target"]]
    named = set(edges["source"]) | set(edges["target"])
    missing = sorted(named - gene_set)
    inside = edges["source"].isin(gene_set) & edges["target"].isin(gene_set)
    onto_measured = ~edges["source"].isin(gene_set) & edges["target"].isin(gene_set)
    if not inside.any() and regulators_outside and onto_measured.sum() >= MIN_EDGES_ONTO_MEASURED:
        warnings.append(f"{file}: none of its {len(edges):,} edges joins two measured genes, so the model learns no "
                        "edges from it (edge task off)." + _outside_note(edges[onto_measured], gene_set))
        return edges.iloc[:0].reset_index(drop=True)
    if not inside.any():
        raise DataValidationError(
            f"none of its {len(edges):,} edges joins two genes of the expression matrix ({len(named) - len(missing)} "
            f"of its {len(named):,} genes match). {identifier_mismatch(sorted(named), sorted(gene_set))}", file=file)
    kept = edges[inside]
    if missing:
        warnings.append(
            f"{file}: kept {len(kept):,} of {len(edges):,} edges ({kept['source'].nunique():,} regulators, "
            f"{kept['target'].nunique():,} targets), those between measured genes; {int((~inside).sum()):,} edges "
            f"name {len(missing):,} genes the expression does not have (e.g. {', '.join(missing[:5])}). That is "
            "normal for a database prior." + _outside_note(edges[~inside], gene_set))
    return kept.reset_index(drop=True)


def _outside_note(dropped: pd.DataFrame, genes: set[str]) -> str:
    """A sentence on the regulators not measured that can still be knocked out (their targets are)."""
    sources = dropped.loc[~dropped["source"].isin(genes) & dropped["target"].isin(genes), "source"].nunique()
    return (f" Its {sources:,} regulators that are not measured but regulate a measured gene can still be knocked "
            "out: their change starts at their measured targets." if sources else "")


def edges_from_unmeasured(edges: pd.DataFrame, genes: Sequence[str]) -> pd.DataFrame:
    """The edges from a regulator the expression does not measure onto a measured gene (target names fixed where
    unambiguous, as :func:`match_prior` fixes them): what a knockout of such a regulator starts from
    (:mod:`~mtlgrn_core.model.outside_regulators`)."""
    if len(edges) == 0:
        return edges.iloc[:0].reset_index(drop=True)
    gene_set = set(genes)
    renamed = unambiguous_renames(set(edges["source"]) | set(edges["target"]), gene_set)
    edges = edges.assign(source=edges["source"].replace(renamed), target=edges["target"].replace(renamed))
    outside = edges[~edges["source"].isin(gene_set) & edges["target"].isin(gene_set)]
    return outside.drop_duplicates(["source", "target"]).reset_index(drop=True)


def unambiguous_renames(names: set[str], genes: set[str]) -> dict[str, str]:
    """``name -> gene`` for the names absent from ``genes`` whose case- and version-free key is that of exactly
    one gene (``Sox2`` -> ``SOX2``; ``ENSG0001.2`` -> ``ENSG0001.1``)."""
    by_key: dict[str, list[str]] = {}
    for gene in genes:
        by_key.setdefault(gene_key(gene), []).append(gene)
    out = {}
    for name in sorted(names - genes):
        candidates = by_key.get(gene_key(name), [])
        if len(candidates) == 1:
            out[name] = candidates[0]
    return out


def identifier_mismatch(names: Sequence[str], genes: Sequence[str]) -> str:
    """A sentence on why two gene lists do not match: identifier kinds (Ensembl, Entrez, RefSeq, symbols)
    and case styles, with examples of each."""
    kind_a, kind_b = _id_kind(names), _id_kind(genes)
    example = f" (e.g. '{names[0]}' against '{genes[0]}')" if names and genes else ""
    if kind_a != kind_b:
        return (f"It names genes by {kind_a}, the expression by {kind_b}{example}: use the same kind of identifier "
                "in both (for an .h5ad, choose the column of var that holds the same kind).")
    return (f"Both use {kind_a}{example}, but the names do not match even ignoring case: is the prior for "
            "another organism, or the expression labelled with other names?")


def _id_kind(names: Sequence[str]) -> str:
    counts = {label: sum(bool(rx.match(n)) for n in names) for label, rx in _ID_KINDS}
    label, count = max(counts.items(), key=lambda item: item[1])
    return label if count > len(names) / 2 else "gene symbols"


# ----------------------------------------------------------------------------------------------------
# Candidate regulators


def candidate_regulators(tfs: Sequence[str] | None, prior: pd.DataFrame, genes: Sequence[str], *, rule: str,
                         file: str, warnings: list[str]) -> tuple[tuple[str, ...], str]:
    """The genes scored as regulators (sorted) and the rule that chose them (see :func:`describe_regulators`).

    A TF list when given (rule ``"tfs"``; its names outside the expression dropped, unambiguous case / version
    variants renamed, both with a note); else, with ``rule="prior"``, the regulators of the prior (genes with an
    outgoing edge), or every gene with ``rule="all"`` (and when the prior has no edge).
    """
    if rule not in REGULATOR_RULES:
        raise ValueError(f"rule must be one of {', '.join(REGULATOR_RULES)}")
    gene_set = set(genes)
    if tfs is not None:
        renamed = unambiguous_renames(set(tfs), gene_set)
        names = [renamed.get(t, t) for t in tfs]
        absent = [t for t in names if t not in gene_set]
        kept = sorted(set(names) & gene_set)
        if not kept:
            raise DataValidationError(f"none of its {len(tfs)} genes is in the expression matrix (e.g. "
                                      f"{', '.join(absent[:5])}). {identifier_mismatch(absent, sorted(gene_set))}",
                                      file=file)
        if renamed:
            first = next(iter(renamed))
            warnings.append(f"{file}: {len(renamed)} TF names were renamed to the measured gene they match up to "
                            f"case or version suffix (e.g. '{first}' -> '{renamed[first]}').")
        if absent:
            warnings.append(f"{file}: {len(absent)} TFs not in the expression were dropped (e.g. "
                            f"{', '.join(absent[:5])}).")
        return tuple(kept), "tfs"
    if rule == "prior" and len(prior):
        return tuple(sorted(set(prior["source"]))), "prior"
    return tuple(sorted(genes)), "all"


def describe_regulators(rule: str, n_regulators: int) -> str:
    """What the candidate-regulator rule of a dataset means, in a sentence for the user."""
    return {"tfs": f"the {n_regulators:,} genes of the TF list",
            "prior": f"the {n_regulators:,} regulators of the prior network (genes with an outgoing edge), as no TF "
                     "list was given; give a TF list, or choose every gene, to score other genes as regulators",
            "all": f"every gene ({n_regulators:,}), as chosen or as there is neither a TF list nor a prior edge",
            }[rule]
