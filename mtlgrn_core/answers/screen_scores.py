"""How a screen scores and ranks its candidates (numpy only, no run): :mod:`~mtlgrn_core.answers.screens` ranks a run's
predictions with these, and ``bench/screen.py`` its baselines' predictions, so that both count alike."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DIRECTIONS = ("down", "up")
#: A target counts as moved when it changes the wanted way by at least this share of its spread (a convention: a
#: tenth of a standard deviation, small beside any measured response, large beside rounding).
MOVED = 0.1
#: Candidates predicted at once: one block of rows of every gene.
BLOCK = 256
#: Singles tried in pairs by default (10 -> 45 pairs).
DEFAULT_PAIRS = 10
MAX_PAIRS = 30
#: The genes a state screen compares by default: those whose group means differ most.
STATE_GENES = 200
MIN_GROUP_SAMPLES = 3
PATH_HITS = 5
#: An ensemble's hit is stable when the members put it in their top ``STABLE_TOP``.
STABLE_TOP = 10


def target_scores(changes: np.ndarray, targets: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray]:
    """``(score, moved)`` of each row of ``changes`` (perturbations x genes, standard units): the mean change of the
    ``targets`` (gene positions) the wanted way (down: the negated change), and how many move that way by at least
    :data:`MOVED`."""
    wanted = changes[:, targets] * (-1.0 if direction == "down" else 1.0)
    return wanted.mean(axis=1), (wanted >= MOVED).sum(axis=1)


def match_scores(changes: np.ndarray, wanted: np.ndarray, own: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(cosine, pearson)`` of each row of ``changes`` with ``wanted`` (both over the same compared genes). ``own``:
    per row, the position among them of a gene the row's perturbation sets (-1: none), left out of that row's
    match."""
    changes, wanted = np.asarray(changes, dtype=np.float64), np.asarray(wanted, dtype=np.float64)
    keep = np.ones(changes.shape, dtype=bool)
    if own is not None:
        rows = np.flatnonzero(own >= 0)
        keep[rows, own[rows]] = False
    n = keep.sum(axis=1)
    x, y = np.where(keep, changes, 0.0), np.where(keep, wanted[None, :], 0.0)
    dot, xx, yy = (x * y).sum(axis=1), (x * x).sum(axis=1), (y * y).sum(axis=1)
    cosine = np.divide(dot, np.sqrt(xx * yy), out=np.zeros_like(dot), where=xx * yy > 0)
    xs, ys = x.sum(axis=1), y.sum(axis=1)
    cov = dot - xs * ys / np.maximum(n, 1)
    vx, vy = xx - xs ** 2 / np.maximum(n, 1), yy - ys ** 2 / np.maximum(n, 1)
    pearson = np.divide(cov, np.sqrt(vx * vy), out=np.zeros_like(cov), where=vx * vy > 1e-18)
    return cosine, pearson


def ranks(scores: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """1-based rank of each score, largest first; ties by name."""
    order = np.lexsort((np.asarray(names, dtype=object).astype(str), -np.asarray(scores)))
    out = np.empty(len(order), dtype=np.int64)
    out[order] = np.arange(1, len(order) + 1)
    return out


def read_gene_set(text: str) -> list[str]:
    """Gene names from a gene-set file: names separated by commas, tabs, spaces or lines; lines starting with ``#``
    skipped; a GMT line (``name<TAB>description<TAB>genes...``) gives its genes."""
    names: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) > 2 and (fields[1].startswith("http") or fields[1].strip().lower() in ("", "na")):
            fields = fields[2:]  # GMT: a set's name and description first
        names.extend(g for f in fields for g in f.replace(",", " ").split())
    return list(dict.fromkeys(names))
