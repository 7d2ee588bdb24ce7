"""Network analytics on a ranked edge table: thresholds, graphs, hub genes, communities, truth comparison.

Everything here works on the table :func:`mtlgrn_core.answers.infer.score_edges` returns (``rank, source, target,
score, in_prior``) and on :class:`networkx.DiGraph` objects built from it. No UI and no drawing: the
figures live in :mod:`mtlgrn_core.viz.network`.

Edge attributes of the graphs built here: ``rank`` (int), ``score`` (float, 0-1), ``in_prior`` (bool),
``sign`` (+1 activation, -1 repression, 0 unknown), ``sign_from`` (``prior``, ``correlation``, ``truth`` or
``unknown``), ``correlation`` (float, NaN when unknown) and, when a ground truth was given, ``truth``
(``true positive``, ``false positive`` or ``missed``). Node attributes: ``role`` (``TF`` or ``target``) and,
after :func:`analyse_network`, the hub metrics and ``community``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from mtlgrn_core.errors import DataValidationError

KNOWN_CHOICES = ("all", "known", "novel")
TP, FP, MISSED = "true positive", "false positive", "missed"
EXACT_BETWEENNESS_NODES = 1000  # above this many genes, betweenness is estimated from seeded pivots
BETWEENNESS_PIVOTS = 300
GREEDY_COMMUNITY_NODES = 1000  # above this many genes, communities come from seeded Louvain (10x faster)
_CORRELATION_CHUNK = 20_000
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
HUB_COLUMNS = ["gene", "role", "out_degree", "in_degree", "betweenness", "pagerank", "community"]


# -- the edge table ------------------------------------------------------------------------------------
def annotate_edges(edges: pd.DataFrame, prior: pd.DataFrame, *, expression: np.ndarray | None = None,
                   genes: Sequence[str] | None = None, truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add the sign of each edge and, when a ground truth is given, whether it is a true edge.

    Parameters
    ----------
    edges
        Ranked edges (``rank, source, target, score, in_prior``).
    prior
        Known edges ``source, target, sign`` (sign +1, -1 or 0 = unknown).
    expression
        Expression matrix ``(n_genes, n_samples)`` whose rows follow ``genes``; the sign of a pair absent
        from the prior (or signed 0 there) is the sign of the Pearson correlation of the two genes.
    genes
        Gene names of the rows of ``expression``.
    truth
        Ground-truth edges ``source, target`` (optional).

    Returns
    -------
    pandas.DataFrame
        A copy of ``edges`` with ``sign`` (+1 / -1 / 0), ``sign_from`` (``prior``, ``correlation`` or
        ``unknown``), ``correlation`` (NaN without expression) and, with a truth, ``truth``
        (``true positive`` / ``false positive``).
    """
    table = edges.copy()
    prior_sign = _pair_map(prior, "sign") if len(prior) else {}
    pairs = list(zip(table["source"], table["target"]))
    sign = np.array([_sign_value(prior_sign.get(p, 0)) for p in pairs], dtype=np.int64)
    sign_from = np.where(sign != 0, "prior", "unknown").astype(object)
    correlation = np.full(len(table), np.nan)
    if expression is not None and genes is not None and len(table):
        correlation = pair_correlation(expression, genes, table["source"], table["target"])
        estimate = (sign == 0) & np.isfinite(correlation) & (correlation != 0)
        sign[estimate] = np.sign(correlation[estimate]).astype(np.int64)
        sign_from[estimate] = "correlation"
    table["sign"] = sign
    table["sign_from"] = sign_from
    table["correlation"] = correlation
    if truth is not None:
        true_pairs = set(zip(truth["source"].astype(str), truth["target"].astype(str)))
        table["truth"] = [TP if p in true_pairs else FP for p in pairs]
    return table


def pair_correlation(expression: np.ndarray, genes: Sequence[str], sources: Iterable[str],
                     targets: Iterable[str]) -> np.ndarray:
    """Pearson correlation across samples of each ``source, target`` pair (NaN for a constant gene)."""
    index = {g: i for i, g in enumerate(genes)}
    src = np.array([index[g] for g in sources], dtype=np.int64)
    dst = np.array([index[g] for g in targets], dtype=np.int64)
    values = np.asarray(expression, dtype=np.float64)
    centred = values - values.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(norm > 0, centred / np.where(norm > 0, norm, 1.0), np.nan)
    out = np.empty(len(src))
    for start in range(0, len(src), _CORRELATION_CHUNK):
        stop = start + _CORRELATION_CHUNK
        out[start:stop] = np.einsum("ij,ij->i", unit[src[start:stop]], unit[dst[start:stop]])
    return np.clip(out, -1.0, 1.0)


def select_edges(edges: pd.DataFrame, *, top_k: int | None = None, min_score: float | None = None,
                 known: str = "all", min_stability: float | None = None) -> pd.DataFrame:
    """The edges that make up the network: known / novel and stability filters, then a top-k or a score
    threshold.

    Parameters
    ----------
    edges
        Ranked edges sorted by decreasing score.
    top_k
        Keep the ``top_k`` best edges (after the known / novel filter).
    min_score
        Keep edges scoring at least this (0-1).
    known
        ``all``, ``known`` (edges of the prior) or ``novel`` (edges absent from the prior).
    min_stability
        An ensemble's edges (``stability`` column): keep those at least this many of the members rank in their
        top k (a share, 0-1).
    """
    if known not in KNOWN_CHOICES:
        raise DataValidationError(f"unknown edge filter '{known}'; use one of {', '.join(KNOWN_CHOICES)}.")
    table = edges
    if known != "all":
        table = table[table["in_prior"] == (known == "known")]
    if min_stability is not None and "stability" in table:
        table = table[table["stability"] >= min_stability - 1e-9]
    if min_score is not None:
        table = table[table["score"] >= min_score]
    if top_k is not None:
        table = table.head(max(int(top_k), 0))
    return table.reset_index(drop=True)


def search_edges(edges: pd.DataFrame, *, text: str = "", gene: str | None = None) -> pd.DataFrame:
    """Edges touching ``gene`` (as regulator or target) and/or whose gene names contain ``text``.

    The text search ignores case; several words separated by spaces or commas match any of them.
    """
    table = edges
    if gene:
        table = table[(table["source"] == gene) | (table["target"] == gene)]
    words = [w for w in re.split(r"[\s,;]+", text.strip().lower()) if w]
    if words:
        names = table["source"].str.lower() + "\t" + table["target"].str.lower()
        hit = np.zeros(len(table), dtype=bool)
        for word in words:
            hit |= names.str.contains(word, regex=False).to_numpy()
        table = table[hit]
    return table.reset_index(drop=True)


def readable_edges(edges: pd.DataFrame) -> pd.DataFrame:
    """The edge table with plain-word columns for display (``sign`` as activation / repression / unknown)."""
    words = {1: "activation", -1: "repression", 0: "unknown"}
    table = pd.DataFrame({"rank": edges["rank"], "regulator": edges["source"], "target": edges["target"],
                          "score": edges["score"], "known": edges["in_prior"]})
    if "stability" in edges:  # an ensemble's edges
        table.insert(4, "stability", edges["stability"])
        table.insert(5, "score spread", edges["score_sd"])
    if "sign" in edges:
        table["sign"] = [words.get(int(s), "unknown") for s in edges["sign"]]
        table["sign from"] = edges["sign_from"].replace({"correlation": "expression correlation"})
        table["correlation"] = edges["correlation"]
    if "truth" in edges:
        table["ground truth"] = edges["truth"]
    return table


# -- graphs --------------------------------------------------------------------------------------------
def build_graph(edges: pd.DataFrame, tfs: Iterable[str] = ()) -> nx.DiGraph:
    """A directed graph of the edges (nodes: the genes they touch; attributes: see the module docstring)."""
    graph = nx.DiGraph()
    regulators = set(tfs) | set(edges["source"])
    genes = sorted(set(edges["source"]) | set(edges["target"]))
    graph.add_nodes_from((g, {"role": "TF" if g in regulators else "target"}) for g in genes)
    columns = [c for c in ("rank", "score", "in_prior", "sign", "sign_from", "correlation", "truth", "stability",
                           "score_sd") if c in edges]
    for row in edges[["source", "target", *columns]].itertuples(index=False):
        graph.add_edge(row[0], row[1], **{c: _plain(v) for c, v in zip(columns, row[2:])})
    return graph


def hub_table(graph: nx.DiGraph, *, seed: int = 0) -> pd.DataFrame:
    """Hub metrics of every gene of the graph.

    Columns: ``gene, role, out_degree`` (targets it regulates), ``in_degree`` (its regulators),
    ``betweenness`` (share of shortest regulatory paths through the gene; estimated from
    :data:`BETWEENNESS_PIVOTS` seeded pivots above :data:`EXACT_BETWEENNESS_NODES` genes), ``pagerank``
    (regulatory influence: PageRank on the reversed edges weighted by score, so a regulator of many
    influential genes ranks high)
    and ``community`` (see :func:`communities`). Sorted by decreasing out-degree, then PageRank.
    """
    if graph.number_of_nodes() == 0:
        return pd.DataFrame(columns=HUB_COLUMNS)
    n = graph.number_of_nodes()
    pivots = None if n <= EXACT_BETWEENNESS_NODES else BETWEENNESS_PIVOTS
    betweenness = nx.betweenness_centrality(graph, k=pivots, seed=seed)
    pagerank = nx.pagerank(graph.reverse(copy=False), weight="score") if graph.number_of_edges() else \
        {g: 1.0 / n for g in graph}
    membership = communities(graph, seed=seed)
    table = pd.DataFrame({
        "gene": list(graph.nodes),
        "role": [graph.nodes[g].get("role", "") for g in graph],
        "out_degree": [graph.out_degree(g) for g in graph],
        "in_degree": [graph.in_degree(g) for g in graph],
        "betweenness": [betweenness[g] for g in graph],
        "pagerank": [pagerank[g] for g in graph],
        "community": [membership[g] for g in graph],
    })
    table = table.sort_values(["out_degree", "pagerank", "gene"], ascending=[False, False, True], kind="stable")
    return table.reset_index(drop=True)


def communities(graph: nx.DiGraph, *, seed: int = 0) -> dict[str, int]:
    """Gene -> community number (1 = largest), by modularity on the undirected graph.

    Greedy modularity (Clauset-Newman-Moore) up to :data:`GREEDY_COMMUNITY_NODES` genes, seeded Louvain
    above (as good a modularity, far faster). Edge weights are the scores (a reciprocal pair counts the sum
    of both). The result does not depend on the order the edges were added in: nodes and edges are sorted.
    """
    undirected = nx.Graph()
    undirected.add_nodes_from(sorted(graph.nodes))
    weights: dict[tuple[str, str], float] = {}
    for u, v, score in graph.edges(data="score", default=1.0):
        if u != v:
            key = (u, v) if u < v else (v, u)
            weights[key] = weights.get(key, 0.0) + float(score)
    undirected.add_weighted_edges_from((u, v, w) for (u, v), w in sorted(weights.items()))
    if undirected.number_of_nodes() == 0:
        return {}
    if undirected.number_of_edges() == 0:
        groups = [{g} for g in undirected]
    elif undirected.number_of_nodes() <= GREEDY_COMMUNITY_NODES:
        groups = nx.community.greedy_modularity_communities(undirected, weight="weight")
    else:
        groups = nx.community.louvain_communities(undirected, weight="weight", seed=seed)
    ordered = sorted((sorted(group) for group in groups), key=lambda members: (-len(members), members[0]))
    return {gene: number for number, members in enumerate(ordered, start=1) for gene in members}


def community_table(hubs: pd.DataFrame, *, max_listed: int = 25) -> pd.DataFrame:
    """One row per community: ``community, genes, regulators, hub`` (highest out-degree) and ``members``."""
    rows = []
    for number, group in hubs.groupby("community", sort=True):
        group = group.sort_values(["out_degree", "pagerank", "gene"], ascending=[False, False, True])
        names = list(group["gene"])
        listed = ", ".join(names[:max_listed]) + (f", … (+{len(names) - max_listed})" if len(names) > max_listed
                                                   else "")
        rows.append({"community": int(number), "genes": len(names), "regulators": int((group["role"] == "TF").sum()),
                     "hub": names[0], "members": listed})
    return pd.DataFrame(rows, columns=["community", "genes", "regulators", "hub", "members"])


@dataclass
class NetworkAnalysis:
    """A thresholded network with its hub metrics and communities."""

    edges: pd.DataFrame
    graph: nx.DiGraph
    hubs: pd.DataFrame
    communities: pd.DataFrame


def analyse_network(edges: pd.DataFrame, tfs: Iterable[str] = (), *, seed: int = 0) -> NetworkAnalysis:
    """Graph, hub table and communities of an edge table; hub metrics are copied onto the graph's nodes."""
    graph = build_graph(edges, tfs)
    hubs = hub_table(graph, seed=seed)
    for row in hubs.itertuples(index=False):
        graph.nodes[row.gene].update(out_degree=int(row.out_degree), in_degree=int(row.in_degree),
                                     betweenness=float(row.betweenness), pagerank=float(row.pagerank),
                                     community=int(row.community))
    return NetworkAnalysis(edges=edges, graph=graph, hubs=hubs, communities=community_table(hubs))


def _edge_order(graph: nx.DiGraph) -> list[tuple[str, str]]:
    """Edges best first (rank when known, else decreasing score), ties by name."""
    def key(edge):
        u, v, data = edge
        return (data.get("rank", np.inf), -data.get("score", 0.0), u, v)
    return [(u, v) for u, v, _ in sorted(graph.edges(data=True), key=key)]


def top_subgraph(graph: nx.DiGraph, *, max_edges: int = 200, max_nodes: int = 300) -> nx.DiGraph:
    """The best ``max_edges`` edges, skipping any that would bring in more than ``max_nodes`` genes.

    ``graph.graph["truncated"]`` tells whether the gene cap made edges be skipped.
    """
    kept_nodes: set[str] = set()
    kept_edges = []
    skipped = False
    for u, v in _edge_order(graph):
        if len(kept_edges) >= max_edges:
            break
        new = {u, v} - kept_nodes
        if len(kept_nodes) + len(new) > max_nodes:
            skipped = True
            continue
        kept_nodes |= new
        kept_edges.append((u, v))
    sub = graph.edge_subgraph(kept_edges).copy()
    sub.graph["truncated"] = skipped
    return sub


def neighbourhood(graph: nx.DiGraph, gene: str, *, hops: int = 1, max_nodes: int = 300) -> nx.DiGraph:
    """Genes within ``hops`` steps of ``gene`` (following edges either way) and the edges between them.

    Each ring is filled best connection first; once ``max_nodes`` genes are in, the rest is left out and
    ``graph.graph["truncated"]`` is True.

    Raises
    ------
    DataValidationError
        When ``gene`` has no edge in ``graph``.
    """
    if gene not in graph:
        raise DataValidationError(f"gene '{gene}' has no edge in the current network. Lower the score "
                                  "threshold, raise the number of edges, or pick another gene.")
    hops = int(np.clip(hops, 1, 3))
    kept, frontier, truncated = {gene}, [gene], False
    for _ in range(hops):
        best: dict[str, float] = {}
        for node in frontier:
            for u, v, score in [*graph.out_edges(node, data="score", default=0.0),
                                *graph.in_edges(node, data="score", default=0.0)]:
                other = v if u == node else u
                if other not in kept:
                    best[other] = max(best.get(other, -1.0), float(score))
        ring = sorted(best, key=lambda g: (-best[g], g))
        room = max_nodes - len(kept)
        truncated |= len(ring) > room
        ring = ring[:max(room, 0)]
        kept.update(ring)
        frontier = ring
        if not frontier:
            break
    sub = graph.subgraph(kept).copy()
    sub.graph.update(truncated=truncated, centre=gene, hops=hops)
    return sub


def cap_nodes(graph: nx.DiGraph, max_nodes: int) -> nx.DiGraph:
    """The graph itself when it has at most ``max_nodes`` genes, else the genes of its best edges."""
    if graph.number_of_nodes() <= max_nodes:
        return graph
    kept: list[str] = []
    centre = graph.graph.get("centre")
    if centre in graph:
        kept.append(centre)
    for u, v in _edge_order(graph):
        for node in (u, v):
            if node not in kept and len(kept) < max_nodes:
                kept.append(node)
        if len(kept) >= max_nodes:
            break
    if len(kept) < max_nodes:  # isolated genes last, by name
        kept += sorted(set(graph) - set(kept))[:max_nodes - len(kept)]
    sub = graph.subgraph(kept).copy()
    sub.graph["truncated"] = True
    return sub


# -- ground truth --------------------------------------------------------------------------------------
@dataclass
class TruthComparison:
    """Network edges against a ground truth (restricted to pairs the model could score)."""

    true_positives: pd.DataFrame
    false_positives: pd.DataFrame
    missed: pd.DataFrame
    truth_edges: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = len(self.true_positives) + len(self.false_positives)
        return len(self.true_positives) / found if found else float("nan")

    @property
    def recall(self) -> float:
        return len(self.true_positives) / self.truth_edges if self.truth_edges else float("nan")


def compare_truth(edges: pd.DataFrame, truth: pd.DataFrame, *, genes: Iterable[str] | None = None,
                  regulators: Iterable[str] | None = None) -> TruthComparison:
    """True and false positives among ``edges`` and the truth edges they miss.

    Parameters
    ----------
    edges
        The network's edges (``source, target, score`` and more).
    truth
        Ground-truth edges ``source, target`` (``sign`` kept when present).
    genes, regulators
        When given, truth edges outside these genes / regulators are set aside (the model never scored
        them) and counted in ``notes``.
    """
    truth = truth.astype({"source": str, "target": str})
    truth = truth[truth["source"] != truth["target"]].drop_duplicates(["source", "target"])
    keep = np.ones(len(truth), dtype=bool)
    if genes is not None:
        known = set(genes)
        keep &= truth["source"].isin(known).to_numpy() & truth["target"].isin(known).to_numpy()
    if regulators is not None:
        keep &= truth["source"].isin(set(regulators)).to_numpy()
    notes = []
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} truth edge(s) involve genes or regulators the model did not score "
                     "and are left out.")
    truth = truth[keep]
    true_pairs = set(zip(truth["source"], truth["target"]))
    found = np.array([p in true_pairs for p in zip(edges["source"], edges["target"])], dtype=bool)
    edge_pairs = set(zip(edges["source"], edges["target"]))
    missed = truth[[p not in edge_pairs for p in zip(truth["source"], truth["target"])]]
    columns = [c for c in ("source", "target", "sign") if c in missed]
    return TruthComparison(true_positives=edges[found].reset_index(drop=True),
                           false_positives=edges[~found].reset_index(drop=True),
                           missed=missed[columns].reset_index(drop=True), truth_edges=len(truth), notes=notes)


def with_missed_edges(graph: nx.DiGraph, missed: pd.DataFrame) -> nx.DiGraph:
    """A copy of ``graph`` with the missed truth edges between its genes added (``truth="missed"``)."""
    out = graph.copy()
    signs = missed["sign"] if "sign" in missed else np.zeros(len(missed), dtype=int)
    for source, target, sign in zip(missed["source"], missed["target"], signs):
        if source in out and target in out and not out.has_edge(source, target):
            sign = _sign_value(sign)
            out.add_edge(source, target, score=0.0, in_prior=False, sign=sign,
                         sign_from="truth" if sign else "unknown", correlation=float("nan"), truth=MISSED)
    return out


# -- export --------------------------------------------------------------------------------------------
def graphml_bytes(graph: nx.DiGraph) -> bytes:
    """The graph as GraphML (UTF-8), readable by Cytoscape and :func:`networkx.read_graphml`.

    Characters XML cannot hold (control characters) are replaced by U+FFFD; markup characters in gene names
    are escaped by the XML writer, so any name round-trips as text.
    """
    clean = nx.DiGraph()
    for node, data in graph.nodes(data=True):
        clean.add_node(_xml_text(node), **{k: _xml_value(v) for k, v in data.items()})
    for u, v, data in graph.edges(data=True):
        clean.add_edge(_xml_text(u), _xml_text(v), **{k: _xml_value(v_) for k, v_ in data.items()})
    buffer = io.BytesIO()
    nx.write_graphml(clean, buffer, encoding="utf-8")
    return buffer.getvalue()


def _xml_text(value) -> str:
    return _XML_INVALID.sub("\ufffd", str(value))


def _xml_value(value):
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return _xml_text(value)
    return value


def _plain(value):
    """numpy scalars -> Python scalars (GraphML and JSON writers need them)."""
    return value.item() if isinstance(value, np.generic) else value


def _sign_value(value) -> int:
    """+1, -1 or 0 from a sign cell (0 for anything unreadable or missing)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(np.sign(number)) if np.isfinite(number) else 0


def _pair_map(frame: pd.DataFrame, column: str) -> dict[tuple[str, str], object]:
    return dict(zip(zip(frame["source"].astype(str), frame["target"].astype(str)), frame[column]))
