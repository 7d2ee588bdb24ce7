"""Interaction latency of the dashboard's core calls (issue: every interaction within ~1 s on the demo, a
knockout query on 1,000 genes within 300 ms).

    python bench/latency.py [--genes 150 1000] [--repeats 20]

For each size: simulate, train briefly (the model's size, not its accuracy, sets the latency), then time what a
page does on an interaction - without the browser's drawing time. Prints a markdown table (median and 95th
percentile in milliseconds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtlgrn_core.answers import analysis
from mtlgrn_core.answers.infer import ExtrapolationWarning, predict_knockout, score_edges
from mtlgrn_core.inputs.simulate import simulate
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit
from mtlgrn_core.runs import knockout_queries
from mtlgrn_core.viz import knockout as ko_viz
from mtlgrn_core.viz.network import layout, network_html


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median and 95th percentile wall time of ``fn()`` in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def measure(n_genes: int, repeats: int) -> list[tuple[str, float, float]]:
    knockouts = "all" if n_genes <= 200 else 100
    dataset = simulate(n_genes, seed=0, knockouts=knockouts, n_multifactorial=min(n_genes, 300))
    run = fit(dataset, TrainConfig(epochs=5, patience=5))
    hub = dataset.truth["source"].value_counts().index[0]
    genes = [g for g in dataset.tfs[:repeats]]
    rows = []
    cycle = iter(range(10**9))

    def knockout_new_gene():
        predict_knockout(run, [genes[next(cycle) % len(genes)]], dose=0.0)

    rows.append(("knockout query (predict_knockout, one gene)", *timed(knockout_new_gene, repeats)))

    def knockout_with_figures():
        table = knockout_queries.knockout_query(run, (hub,), 0.0)
        ko_viz.changes_bar(table, top=25, title="bar")
        ko_viz.volcano(table, title="volcano")

    rows.append(("knockout query + bar chart + volcano", *timed(knockout_with_figures, repeats)))
    rows.append(("double knockout at dose 0.5", *timed(lambda: predict_knockout(run, genes[:2], dose=0.5),
                                                       repeats)))
    rows.append(("score every candidate pair (edge table)", *timed(lambda: score_edges(run), max(3, repeats // 5))))
    ranked = score_edges(run)

    def network_view():
        edges = analysis.select_edges(analysis.annotate_edges(ranked, run.prior, expression=run.inputs.expression,
                                                              genes=run.genes), top_k=500, known="all")
        net = analysis.analyse_network(edges, run.tfs)
        view = analysis.top_subgraph(net.graph, max_edges=150, max_nodes=300)
        network_html(view, layout(view), color_by="role", edge_color_by="sign", title="view")

    rows.append(("network: top 500 edges, hubs, communities, 150-edge view HTML", *timed(network_view,
                                                                                         max(3, repeats // 5))))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, nargs="+", default=[150, 1000])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ExtrapolationWarning)
    for n in args.genes:
        print(f"\n### {n} genes\n\n| interaction | median ms | p95 ms |\n|---|---|---|")
        for name, median, p95 in measure(n, args.repeats):
            print(f"| {name} | {median:.1f} | {p95:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
