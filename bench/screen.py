"""In-silico screens checked against what is known (issue 28): does a screen find the perturbation that truly happened?

    python bench/screen.py                                  # DREAM4 nets 1-4 and both yeast sets, seeds 5-9
    python bench/screen.py --parts yeast --seeds 5          # one part, one seed
    python bench/screen.py --parts scale                    # 1,500 regulators x 20,000 genes, timed

For each held-out deletion (never in the training data: BENCHMARK.md section 2's knockout folds on DREAM4, section
5's leave-deletions-out folds on the yeast sets) two screens are asked the question the deletion answers:

- target screen: its measured responders as targets (the :data:`RESPONDERS` genes that moved most, in the direction
  most of them moved, the deleted gene left out), every candidate regulator knocked out, ranked by the targets' mean
  change that way (:func:`mtlgrn_core.answers.screen_scores.target_scores`);
- state screen: its whole measured profile as the wanted change, candidates ranked by the cosine of their predicted
  change with it (:func:`~mtlgrn_core.answers.screen_scores.match_scores`; each candidate's own gene left out).

The figure is the rank of the true deletion among every candidate (ties share their mean rank): the median rank and
the share ranked in the top 10, with the number of candidates. Methods, each ranking the same candidates on the same
folds in the same standard units (each gene's change over its spread in the fold's training data): MTLGRN (the
product's screen, :mod:`mtlgrn_core.answers.screens`, on a run trained on the fold); linear propagation through the
prior (section 2's / section 5's baseline); the prior's direct targets (each candidate moves its prior targets
against the edge sign, down where unsigned); and what random ranking gives (expected, not drawn).

Candidates: on DREAM4 the fold run's regulators (``screen_candidates``: the prior's regulators); on yeast the deleted
regulators with a measured target in the motif prior (the deletions the section holds out). Nothing here was tuned:
the responders' count and the direction rule were fixed before the first run; seeds 5-9 (reporting) are the
default.

``--parts scale``: a run at 20,000 genes with 1,500 regulators (``bench/scale.py``'s linear network, with 100
measured knockouts so that the knockout head is trained, 2 epochs: the screen's cost does not depend on how well it
trained) screens every regulator for 20 targets with 10 pairs; prints the seconds of the singles, the pairs and the
paths, and the peak memory. Target: <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from common import Clock, add_seeds_option, markdown_table, publish_tables  # noqa: E402
from dream4_data import NETS, load_dream4  # noqa: E402
from yeast_data import SETS, DeletionSet, load  # noqa: E402

from mtlgrn_core.answers.screen_scores import match_scores, target_scores
from mtlgrn_core.answers.screens import change_screen, screen_candidates, target_screen
from mtlgrn_core.evaluation.knockout_evaluation import fold_datasets, fold_linear_model, measured_knockouts, train_prior
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.splits import EDGE
from mtlgrn_core.model.train import fit, make_split

RESPONDERS = 10
TOP = 10
MODEL, LINEAR, DIRECT, RANDOM = ("MTLGRN", "linear propagation through the prior", "prior direct targets, edge sign",
                                 "random (expected)")
METRICS = ("target_median", "target_top", "state_median", "state_top", "candidates")
HEADS = ("target screen: median rank", f"target screen: top-{TOP} share", "state screen: median rank",
         f"state screen: top-{TOP} share", "candidates")
HELD_METRICS = ("target_median_held", "state_median_held", "held_candidates")
HELD_HEADS = ("target screen: median rank", "state screen: median rank", "candidates")


def responders(measured: np.ndarray, own: list[int]) -> tuple[np.ndarray, str]:
    """The :data:`RESPONDERS` genes that moved most (``own`` left out), those of them that moved the way most did,
    and that way."""
    keep = np.setdiff1d(np.arange(measured.size), own)
    top = keep[np.argsort(-np.abs(measured[keep]), kind="stable")[:RESPONDERS]]
    direction = "down" if (measured[top] < 0).sum() >= (measured[top] > 0).sum() else "up"
    return top[(measured[top] < 0) if direction == "down" else (measured[top] > 0)], direction


def rank_of(scores: np.ndarray, true: int) -> float:
    """The true candidate's rank, largest score first, ties sharing their mean rank."""
    return float(rankdata(-np.asarray(scores, dtype=np.float64), method="average")[true])


def screen_scores(changes: np.ndarray, measured_std: np.ndarray, own_of: np.ndarray,
                  own: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate's target- and state-screen score given its predicted change (rows, standard units) and a
    deletion's measured change; ``own_of``: each candidate's gene position (-1: not measured). As in the product's
    screen, a target is never a candidate of its own screen (its score is -inf)."""
    targets, direction = responders(measured_std, own)
    scores = target_scores(changes, targets, direction)[0]
    scores[np.isin(own_of, targets)] = -np.inf
    compared = np.setdiff1d(np.arange(measured_std.size), own)
    position = np.full(measured_std.size, -1)
    position[compared] = np.arange(compared.size)
    own_position = np.where(own_of >= 0, position[np.maximum(own_of, 0)], -1)
    return scores, match_scores(changes[:, compared], measured_std[compared], own_position)[0]


def ranks_of_true(scores: dict[str, tuple[np.ndarray, np.ndarray]], true: int, held: np.ndarray) -> list[dict]:
    """For each method's ``(target scores, state scores)``, the true candidate's rank among every candidate and among
    the candidates held out with it (``held``), and how many candidates each screen ranks; then what random ranking
    gives on average."""
    rows = []
    for method, (target, state) in scores.items():
        rows.append({"method": method, "target_rank": rank_of(target, true), "state_rank": rank_of(state, true),
                     "target_rank_held": rank_of(np.where(held, target, -np.inf), true),
                     "state_rank_held": rank_of(np.where(held, state, -np.inf), true)})
    target = next(iter(scores.values()))[0]
    counts = {"target_candidates": int(np.isfinite(target).sum()), "candidates": len(target),
              "held_candidates": int((held & np.isfinite(target)).sum())}
    rows.append({"method": RANDOM, "target_rank": (counts["target_candidates"] + 1) / 2,
                 "state_rank": (len(target) + 1) / 2, "target_rank_held": (counts["held_candidates"] + 1) / 2,
                 "state_rank_held": (int(held.sum()) + 1) / 2})
    return [{**row, **counts} for row in rows]


def direct_changes(candidates: list[str], prior: pd.DataFrame, genes: list[str]) -> np.ndarray:
    """Each candidate's prior targets move against the edge sign (down where unsigned), one unit; nothing else."""
    index = {g: i for i, g in enumerate(genes)}
    out = np.zeros((len(candidates), len(genes)))
    row = {g: k for k, g in enumerate(candidates)}
    sign = prior["sign"].to_numpy(dtype=np.float64) if "sign" in prior else np.zeros(len(prior))
    for source, target, s in zip(prior["source"], prior["target"], sign):
        if source in row and target in index:
            out[row[source], index[target]] = -s if s else -1.0
    return out


# -- DREAM4 ----------------------------------------------------------------------------------------------------------

def dream4_rows(net: int, seed: int, shared, epochs: int | None, clock: Clock) -> list[dict]:
    dataset = load_dream4(net, shared=shared, promoters=False)
    split = make_split(dataset, EDGE, seed)
    prior = train_prior(dataset, split)
    kos = measured_knockouts(dataset)
    baseline = dataset.baseline().astype(np.float64)
    x = dataset.expression.astype(np.float64)
    genes = np.array(sorted(kos), dtype=np.int64)
    config = TrainConfig(seed=seed, split=EDGE) if epochs is None else \
        TrainConfig(seed=seed, split=EDGE, epochs=epochs, patience=epochs)
    rows = []
    for held, fold_data in fold_datasets(dataset, prior, genes, seed=seed):
        run = fit(fold_data, config, split=split)
        candidates = screen_candidates(run)
        position = {g: k for k, g in enumerate(candidates)}
        scale = run.inputs.scale.astype(np.float64)
        own_of = np.array([run.gene_index.get(g, -1) for g in candidates])
        linear = fold_linear_model(fold_data, split)
        cand_idx = np.array([run.gene_index[g] for g in candidates])
        predicted = {LINEAR: linear.each_alone(cand_idx, baseline) / scale,
                     DIRECT: direct_changes(candidates, prior, list(dataset.genes))}
        in_fold = np.isin(candidates, [dataset.genes[int(g)] for g in held])
        for gene in held:
            name = dataset.genes[int(gene)]
            if name not in position:
                continue
            measured = (x[:, kos[int(gene)]].mean(axis=1) - baseline) / scale
            own = [int(gene)]
            targets, direction = responders(measured, own)
            hits = target_screen(run, [dataset.genes[t] for t in targets], direction, pairs=0).hits
            wanted = measured.copy()
            wanted[own] = 0.0
            state = change_screen(run, wanted, pairs=0, n_genes=dataset.n_genes).hits
            scores = {MODEL: (_aligned(hits, candidates), _aligned(state, candidates))}
            scores.update({method: screen_scores(changes, measured, own_of, own)
                           for method, changes in predicted.items()})
            rows += _rows("DREAM4", f"net {net}", seed, name, ranks_of_true(scores, position[name], in_fold))
    clock.log(f"DREAM4 net {net} seed {seed}: {sum(r['method'] == MODEL for r in rows)} deletions screened")
    return rows


def _aligned(hits: pd.DataFrame, candidates: list[str]) -> np.ndarray:
    """The product's screen's scores in the order of ``candidates`` (-inf for a candidate it left out: a target)."""
    return hits.set_index("regulator")["score"].reindex(candidates).fillna(-np.inf).to_numpy()


def _rows(data: str, part: str, seed: int, deletion: str, ranked: list[dict]) -> list[dict]:
    return [{"data": data, "part": part, "seed": seed, "deletion": deletion, **row} for row in ranked]


# -- yeast -----------------------------------------------------------------------------------------------------------

def yeast_rows(data: DeletionSet, seed: int, clock: Clock) -> list[dict]:
    """Section 5's folds: every candidate predicted by each method fitted on the fold's training deletions."""
    import yeast

    candidates = data.regulators_with_targets()
    position = {g: k for k, g in enumerate(candidates)}
    own_of = np.array([data.genes.index(g) if g in data.genes else -1 for g in candidates])
    methods = {MODEL: yeast.METHODS[yeast.MODEL], LINEAR: yeast.METHODS["linear propagation through the prior"]}
    rows = []
    for fold in yeast.folds(data, seed):
        held = np.isin(data.deleted, fold)
        train = np.flatnonzero(~held)
        spread = data.profiles[:, train].std(axis=1)
        spread = np.where(spread > 0, spread, 1.0)
        predicted = {m: np.stack([predict(data, train, g) for g in candidates]) / spread for m, predict in
                     methods.items()}
        predicted[DIRECT] = direct_changes(candidates, data.prior, list(data.genes))
        in_fold = np.isin(candidates, fold)
        for column in np.flatnonzero(held):
            name = data.deleted[column]
            own = [data.genes.index(name)] if name in data.genes else []
            measured = data.profiles[:, column] / spread
            scores = {method: screen_scores(changes, measured, own_of, own) for method, changes in predicted.items()}
            rows += _rows("yeast", data.name, seed, name, ranks_of_true(scores, position[name], in_fold))
    clock.log(f"yeast {data.name} seed {seed}: {int(sum(r['method'] == MODEL for r in rows))} deletions screened")
    return rows


# -- tables ----------------------------------------------------------------------------------------------------------

def per_seed(frame: pd.DataFrame) -> pd.DataFrame:
    """Per data set, method and seed: median rank and top-10 share of both screens over the held-out deletions, and
    the median ranks among the candidates held out with each deletion."""
    def summary(group: pd.DataFrame) -> pd.Series:
        random = group["method"].iloc[0] == RANDOM
        top = {screen: min(TOP / group[n].mean(), 1.0) if random else (group[f"{screen}_rank"] <= TOP).mean()
               for screen, n in (("target", "target_candidates"), ("state", "candidates"))}
        return pd.Series({"target_median": group["target_rank"].median(), "target_top": top["target"],
                          "state_median": group["state_rank"].median(), "state_top": top["state"],
                          "candidates": group["candidates"].mean(),
                          "target_median_held": group["target_rank_held"].median(),
                          "state_median_held": group["state_rank_held"].median(),
                          "held_candidates": group["held_candidates"].mean(), "deletions": len(group)})
    columns = ["method", "target_rank", "state_rank", "target_rank_held", "state_rank_held", "target_candidates",
               "candidates", "held_candidates"]
    return frame.groupby(["data", "part", "method", "seed"], sort=False)[columns].apply(summary).reset_index()


def tables(frame: pd.DataFrame) -> list[str]:
    summary = per_seed(frame)
    methods = [MODEL, LINEAR, DIRECT, RANDOM]
    parts = []
    for (data, part), rows in summary.groupby(["data", "part"], sort=False):
        n = int(rows["deletions"].iloc[0])
        title = f"## {data} {part}: {n} held-out deletions per seed, {rows['candidates'].mean():.0f} candidates"
        held = (f"Among the candidates held out with each deletion (its fold: about "
                f"{rows['held_candidates'].mean():.0f}; a method that knows the other candidates' measured effects "
                "gains nothing here):")
        parts.append(title + "\n\n" + markdown_table(rows, methods, list(METRICS), list(HEADS), {"candidates": 0})
                     + "\n\n" + held + "\n\n" + markdown_table(rows, methods, list(HELD_METRICS), list(HELD_HEADS),
                                                                 {"held_candidates": 0}))
    return parts


def by_regulation(frame: pd.DataFrame, shared) -> str:
    """DREAM4's deletions pooled over nets, split by whether the deleted gene regulates anything in the gold network
    (a gene that regulates nothing moves nothing but noise when deleted: no screen can find it by its effect). The
    gold network only labels the rows here: no method reads it."""
    dream4 = frame[frame["data"] == "DREAM4"]
    if dream4.empty:
        return ""
    regulates = {}
    for part in dream4["part"].unique():
        truth = load_dream4(int(part.split()[-1]), shared=shared, promoters=False).truth
        regulates[part] = set(truth["source"])
    kind = np.array(["has a target" if g in regulates[p] else "has no target"
                     for p, g in zip(dream4["part"], dream4["deletion"])])
    parts = []
    for label in ("has a target", "has no target"):
        rows = per_seed(dream4[kind == label].assign(part="nets 1-4", data="DREAM4"))
        n = int(rows["deletions"].iloc[0])
        parts.append(f"### DREAM4 nets 1-4: the {n} deletions per seed of a gene that {label} in the gold network\n\n"
                     + markdown_table(rows, [MODEL, LINEAR, DIRECT, RANDOM], list(METRICS), list(HEADS),
                                      {"candidates": 0})
                     + "\n\nAmong the candidates held out with it:\n\n"
                     + markdown_table(rows, [MODEL, LINEAR, DIRECT, RANDOM], list(HELD_METRICS), list(HELD_HEADS),
                                      {"held_candidates": 0}))
    return "\n\n".join(parts)


# -- scale -----------------------------------------------------------------------------------------------------------

def scale_row(n_genes: int, knockouts: int, epochs: int) -> dict:
    """One timed screen at ``n_genes`` (in this process: its peak memory is its own)."""
    from scale import knockout_dataset

    dataset = knockout_dataset(n_genes, knockouts)
    run = fit(dataset, TrainConfig(epochs=epochs, patience=epochs))
    targets = [g for g in run.genes if g not in set(run.tfs)][:20]
    steps = []
    start = time.perf_counter()
    screen = target_screen(run, targets, "down", pairs=10,
                           progress=lambda done, total, message: steps.append((time.perf_counter() - start, message)))
    total = time.perf_counter() - start
    singles = next(t for t, m in steps if m.startswith("perturbing pairs"))
    pairs_done = next(t for t, m in steps if m == "done")
    return {"genes": n_genes, "regulators": len(screen.hits), "knockout head": "knockout" in run.tasks,
            "singles s": singles, "pairs s (45)": pairs_done - singles, "paths s (top 5)": total - pairs_done,
            "total s": total, "peak GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", default=["dream4", "yeast"], choices=["dream4", "yeast", "scale"])
    parser.add_argument("--nets", type=int, nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    add_seeds_option(parser)
    parser.set_defaults(seeds=[5, 6, 7, 8, 9])
    parser.add_argument("--epochs", type=int, default=None, help="DREAM4 training epochs (default: TrainConfig's)")
    parser.add_argument("--genes", type=int, default=20000, help="--parts scale: genes (default 20,000)")
    parser.add_argument("--shared", type=Path, default=None,
                        help="shared data folder (default: $MTLGRN_SHARED_DATA or <repo>/../shared/data)")
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "screen")
    parser.add_argument("--tables-from", type=Path, default=None, metavar="CSV",
                        help="only print the tables of an earlier run's screen.csv")
    args = parser.parse_args(argv)
    clock = Clock()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.tables_from is not None:
        frame = pd.read_csv(args.tables_from)
        print("\n\n".join([*tables(frame), by_regulation(frame, args.shared)]))
        return 0
    parts = []
    if "scale" in args.parts:
        row = scale_row(args.genes, 100, 2)
        cells = [f"{v:,}" if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else
                 f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()]
        parts.append("## Speed\n\n| " + " | ".join(row) + " |\n|" + "---|" * len(row) + "\n| " + " | ".join(cells)
                     + " |")
    rows = []
    if "dream4" in args.parts:
        for net in args.nets:
            for seed in args.seeds:
                rows += dream4_rows(net, seed, args.shared, args.epochs, clock)
    if "yeast" in args.parts:
        from shared_data import shared_data_dir

        for name in args.sets:
            data = load(name, shared_data_dir(args.shared))
            for seed in args.seeds:
                rows += yeast_rows(data, seed, clock)
    if rows:
        frame = pd.DataFrame(rows)
        frame.to_csv(args.out / "screen.csv", index=False)
        parts += [*tables(frame), by_regulation(frame, args.shared)]
    publish_tables(["# In-silico screens: the rank of the true deletion (issue 28)", *parts], args.out,
                   f"Total time: {clock.elapsed:.0f} s. Tables in {args.out / 'tables.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
