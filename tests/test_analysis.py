"""Network analytics (mtlgrn_core.answers.analysis) and network drawings (mtlgrn_core.viz.network) on small graphs."""

import json
import re

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.answers import analysis
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.viz.network import layout, network_figure, network_html

EVIL = "<img src=x onerror=alert(1)>"
BREAKOUT = "</script><script>alert(2)</script>"


def edge_table(rows, prior=()):
    """A ranked edge table like score_edges returns, from (source, target, score) rows."""
    frame = pd.DataFrame(rows, columns=["source", "target", "score"])
    frame = frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    known = set(prior)
    frame["in_prior"] = [(s, t) in known for s, t in zip(frame["source"], frame["target"])]
    return frame


TWO_MODULES = [("A", "B", 0.9), ("A", "C", 0.8), ("A", "D", 0.7), ("B", "C", 0.6), ("E", "F", 0.5),
               ("E", "G", 0.4), ("F", "G", 0.3), ("D", "E", 0.05)]


def test_annotate_edges_signs_from_prior_then_correlation_and_truth():
    edges = edge_table([("A", "B", 0.9), ("A", "C", 0.8), ("B", "C", 0.1)], prior=[("A", "B")])
    prior = pd.DataFrame({"source": ["A"], "target": ["B"], "sign": [-1]})
    x = np.arange(6, dtype=float)
    expression = np.stack([x, x ** 2, -x])  # A, B, C: C anti-correlated with A
    truth = pd.DataFrame({"source": ["A"], "target": ["C"]})
    out = analysis.annotate_edges(edges, prior, expression=expression, genes=["A", "B", "C"], truth=truth)
    row = out.set_index(["source", "target"])
    assert row.loc[("A", "B"), "sign"] == -1 and row.loc[("A", "B"), "sign_from"] == "prior"
    assert row.loc[("A", "C"), "sign"] == -1 and row.loc[("A", "C"), "sign_from"] == "correlation"
    assert row.loc[("A", "C"), "correlation"] == pytest.approx(-1.0)
    assert row.loc[("A", "C"), "truth"] == analysis.TP and row.loc[("B", "C"), "truth"] == analysis.FP
    assert "sign" not in edges  # the input is not modified


def test_select_and_search_edges():
    edges = edge_table(TWO_MODULES, prior=[("A", "B"), ("E", "F")])
    assert len(analysis.select_edges(edges, top_k=3)) == 3
    assert analysis.select_edges(edges, min_score=0.6)["score"].min() >= 0.6
    novel = analysis.select_edges(edges, known="novel", top_k=2)
    assert not novel["in_prior"].any() and list(novel["source"] + novel["target"]) == ["AC", "AD"]
    assert analysis.select_edges(edges, known="known")["in_prior"].all()
    with pytest.raises(DataValidationError):
        analysis.select_edges(edges, known="maybe")
    of_c = analysis.search_edges(edges, gene="C")
    assert set(of_c["source"] + of_c["target"]) == {"AC", "BC"}
    assert len(analysis.search_edges(edges, text="g, d")) == 4  # E-G, F-G, A-D, D-E
    readable = analysis.readable_edges(analysis.annotate_edges(edges, pd.DataFrame(columns=["source", "target",
                                                                                            "sign"])))
    assert list(readable.columns[:5]) == ["rank", "regulator", "target", "score", "known"]


def test_hub_metrics_on_a_chain_and_a_star():
    chain = analysis.build_graph(edge_table([("X", "Y", 0.9), ("Y", "Z", 0.8)]))
    hubs = analysis.hub_table(chain).set_index("gene")
    assert hubs.loc["Y", "betweenness"] == pytest.approx(0.5)  # X->Z passes Y; (n-1)(n-2) = 2 ordered pairs
    assert hubs.loc["X", "betweenness"] == 0.0
    star = analysis.build_graph(edge_table([("H", t, 0.5) for t in "abcde"] + [("a", "b", 0.5)]), tfs=["a"])
    hubs = analysis.hub_table(star)
    assert hubs.iloc[0]["gene"] == "H" and hubs.iloc[0]["out_degree"] == 5 and hubs.iloc[0]["role"] == "TF"
    assert hubs.set_index("gene").loc["a", "role"] == "TF"  # a TF of the run, even as a target here
    assert hubs["pagerank"].sum() == pytest.approx(1.0)
    assert hubs.set_index("gene")["pagerank"].idxmax() == "H"  # regulatory influence flows to regulators
    assert analysis.hub_table(nx.DiGraph()).empty


def test_communities_are_deterministic_and_split_modules(monkeypatch):
    edges = edge_table(TWO_MODULES)
    first = analysis.communities(analysis.build_graph(edges))
    shuffled = analysis.communities(analysis.build_graph(edges.sample(frac=1.0, random_state=3)))
    assert first == shuffled
    assert first["A"] == first["B"] == first["C"] == first["D"] == 1  # largest module first
    assert first["E"] == first["F"] == first["G"] == 2
    monkeypatch.setattr(analysis, "GREEDY_COMMUNITY_NODES", 2)  # the seeded Louvain path of big networks
    louvain = analysis.communities(analysis.build_graph(edges))
    assert louvain == analysis.communities(analysis.build_graph(edges.sample(frac=1.0, random_state=5)))
    assert louvain["A"] == louvain["D"] != louvain["G"]
    monkeypatch.undo()
    result = analysis.analyse_network(edges)
    assert result.graph.nodes["A"]["community"] == 1 and result.graph.nodes["A"]["out_degree"] == 3
    assert list(result.communities["genes"]) == [4, 3] and result.communities.iloc[0]["hub"] == "A"


def test_neighbourhood_hops_both_directions_and_cap():
    chain = analysis.build_graph(edge_table([("A", "B", 0.9), ("B", "C", 0.8), ("C", "D", 0.7), ("D", "E", 0.6)]))
    assert set(analysis.neighbourhood(chain, "C", hops=1)) == {"B", "C", "D"}
    assert set(analysis.neighbourhood(chain, "C", hops=2)) == set("ABCDE")
    assert analysis.neighbourhood(chain, "A", hops=3).number_of_nodes() == 4
    star = analysis.build_graph(edge_table([("H", f"t{i}", i / 10) for i in range(1, 10)]))
    capped = analysis.neighbourhood(star, "H", hops=1, max_nodes=4)
    assert set(capped) == {"H", "t9", "t8", "t7"} and capped.graph["truncated"]
    with pytest.raises(DataValidationError, match="no edge"):
        analysis.neighbourhood(star, "nope")


def test_top_subgraph_and_cap_nodes():
    star = analysis.build_graph(edge_table([("H", f"t{i}", i / 100) for i in range(1, 60)]))
    top = analysis.top_subgraph(star, max_edges=10, max_nodes=300)
    assert top.number_of_edges() == 10 and min(s for *_, s in top.edges(data="score")) == pytest.approx(0.50)
    assert analysis.top_subgraph(star, max_edges=100, max_nodes=8).number_of_nodes() == 8
    capped = analysis.cap_nodes(star, 5)
    assert capped.number_of_nodes() == 5 and "t59" in capped and capped.graph["truncated"]
    assert analysis.cap_nodes(star, 500) is star


def test_compare_truth_and_missed_edges():
    edges = edge_table([("A", "B", 0.9), ("A", "C", 0.8), ("B", "C", 0.7)])
    truth = pd.DataFrame({"source": ["A", "B", "C", "Q", "D"], "target": ["B", "C", "D", "A", "D"],
                          "sign": [1, -1, 1, 1, 1]})
    result = analysis.compare_truth(edges, truth, genes="ABCD", regulators="ABC")
    assert len(result.true_positives) == 2 and len(result.false_positives) == 1
    assert list(zip(result.missed["source"], result.missed["target"])) == [("C", "D")]
    assert result.truth_edges == 3 and result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(2 / 3) and "1 truth edge" in result.notes[0]  # Q->A; D->D is a loop
    graph = analysis.build_graph(edges)
    graph.add_node("D", role="target")
    marked = analysis.with_missed_edges(graph, result.missed)
    assert marked["C"]["D"]["truth"] == analysis.MISSED and marked["C"]["D"]["sign"] == 1
    assert not graph.has_edge("C", "D")  # a copy


def test_graphml_round_trip_with_hostile_names():
    edges = edge_table([(EVIL, 'a&b "q"', 0.9), ('a&b "q"', "ctrl\x01gene", 0.4)], prior=[(EVIL, 'a&b "q"')])
    edges = analysis.annotate_edges(edges, pd.DataFrame({"source": [EVIL], "target": ['a&b "q"'], "sign": [1]}),
                                    truth=pd.DataFrame({"source": [EVIL], "target": ['a&b "q"']}))
    result = analysis.analyse_network(edges)
    data = analysis.graphml_bytes(result.graph)
    assert EVIL.encode() not in data  # escaped as XML text
    import io
    back = nx.read_graphml(io.BytesIO(data))
    assert set(back) == {EVIL, 'a&b "q"', "ctrl\ufffdgene"}
    edge = back[EVIL]['a&b "q"']
    assert edge["score"] == pytest.approx(0.9) and edge["in_prior"] is True and edge["sign"] == 1
    assert edge["truth"] == analysis.TP and np.isnan(edge["correlation"])
    assert back.nodes[EVIL]["community"] == 1 and back.nodes[EVIL]["role"] == "TF"


# -- drawings ------------------------------------------------------------------------------------------
def drawn_nodes(page: str) -> list[dict]:
    found = re.search(r"nodes = new vis\.DataSet\((\[.*?\])\);", page, re.DOTALL)
    return json.loads(found.group(1))


def test_html_escapes_hostile_gene_names_and_is_offline():
    edges = edge_table([(EVIL, BREAKOUT, 0.9), (BREAKOUT, "G1", 0.5)])
    graph = analysis.analyse_network(analysis.annotate_edges(edges, pd.DataFrame(columns=["source", "target",
                                                                                          "sign"]))).graph
    page = network_html(graph, layout(graph), title=f"Neighbourhood of {EVIL}")
    assert EVIL not in page and "alert(2)</script>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the title, as text
    labels = {n["label"] for n in drawn_nodes(page)}
    assert labels == {EVIL, BREAKOUT, "G1"}  # the JSON decodes back to the exact names
    assert not re.search(r"<(script|link)\b[^>]*(src|href)\s*=\s*[\"']?(https?:)?//", page, re.IGNORECASE)
    assert "vis.Network" in page and len(page) > 100_000  # vis-network inlined
    assert '"physics": {"enabled": false}' in page
    assert all(n["physics"] is False and "x" in n and "y" in n for n in drawn_nodes(page))
    fig = network_figure(graph, layout(graph))
    texts = [t for trace in fig.data if trace.mode == "markers+text" for t in trace.text]
    assert EVIL not in texts and "&lt;img src=x onerror=alert(1)&gt;" in texts


def test_node_cap_and_layout_reuse():
    edges = edge_table([(f"R{i % 7}", f"T{i}", 1 - i / 1000) for i in range(600)])
    graph = analysis.build_graph(edges)
    page = network_html(graph, max_nodes=120)
    assert len(drawn_nodes(page)) == 120
    fig = network_figure(graph, max_nodes=120)
    assert sum(len(t.x) for t in fig.data if t.mode == "markers+text") == 120
    small = analysis.top_subgraph(graph, max_edges=20)
    positions = layout(small)
    assert positions == layout(small)  # seeded: the same picture every time
    by_node = {n["id"]: (n["x"], n["y"]) for n in drawn_nodes(network_html(small, positions))}
    assert by_node == {k: pytest.approx(v) for k, v in positions.items()}
