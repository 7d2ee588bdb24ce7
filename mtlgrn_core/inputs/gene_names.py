"""Gene identifiers as they come: keys that ignore case and version suffixes, and the hints and fixes built on
them (``TP53`` ~ ``tp53``, ``ENSG0001.1`` ~ ``ENSG0001.2``; ``AL627309.1`` and ``AL627309.2`` stay two genes)."""

from __future__ import annotations

import re

VERSIONED_ID = re.compile(r"^(ENS[A-Z]*\d{6,}|[NX][MRP]_\d+)\.\d+$")  # Ensembl / RefSeq id + version


def gene_key(name: str) -> str:
    """A gene name without case and version suffix: 'TP53' ~ 'tp53', 'ENSG0001.1' ~ 'ENSG0001.2'.

    Only Ensembl and RefSeq identifiers have a version suffix: 'AL627309.1' and 'AL627309.2' are two genes.
    """
    return VERSIONED_ID.sub(r"\1", name).casefold()


def warn_near_duplicates(genes: list[str], file: str, warnings: list[str]) -> None:
    """Report gene names that differ only in case or version suffix: maybe one gene twice, never merged."""
    groups: dict[str, list[str]] = {}
    for gene in genes:
        groups.setdefault(gene_key(gene), []).append(gene)
    clashes = [names for names in groups.values() if len(names) > 1]
    if clashes:
        shown = "; ".join(" and ".join(f"'{n}'" for n in names[:3]) for names in clashes[:3])
        warnings.append(f"{file}: {len(clashes)} group(s) of gene names differ only in case or version suffix "
                        f"({shown}); they are kept as separate genes. If they are the same gene, merge their "
                        "rows under one name (e.g. sum the counts) or remove the extra one.")


def near_hint(names: list[str], genes) -> str:
    """A sentence for the ``names`` (absent from ``genes``) that match a gene up to case or version suffix."""
    keys: dict[str, str] = {}
    for gene in sorted(genes):
        keys.setdefault(gene_key(gene), gene)
    pairs = [(n, keys[gene_key(n)]) for n in names if gene_key(n) in keys]
    if not pairs:
        return ""
    shown = ", ".join(f"'{a}' vs '{b}'" for a, b in pairs[:3])
    return (f" Some names differ from expression genes only in case or version suffix ({shown}): rename them as "
            "in the expression.")
