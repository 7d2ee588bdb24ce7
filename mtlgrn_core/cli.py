"""Command line: the same jobs as the dashboard, from a terminal.

    python -m mtlgrn_core simulate --genes 150 --seed 0 --out demo_data
    python -m mtlgrn_core train --data demo_data --out runs/demo [--epochs 200] [--seed 0] [--seeds 5 [--bootstrap]]
    python -m mtlgrn_core predict --run runs/demo --out edges.csv [--top 1000] [--format decoupler]
        [--h5ad-out cells.h5ad]
    python -m mtlgrn_core knockout --run runs/demo --genes G001,G002 [--dose 0] --out table.csv [--explain 3]
        [--h5ad-out cells.h5ad]
    python -m mtlgrn_core knockout --run runs/demo --genes-file perturbations.txt [--dose 0] --out deltas.csv
    python -m mtlgrn_core knockout --run runs/demo --genes G001 --out table.csv --compare my_knockout_de.tsv
    python -m mtlgrn_core explain --run runs/demo --genes G001 --target G020 [--dose 0] [--top 5]
    python -m mtlgrn_core screen --run runs/demo --targets G020,G031 --direction down [--dose 0] [--pairs 10]
        --out hits.csv
    python -m mtlgrn_core screen --run runs/cells --from condition=disease --to condition=healthy --out hits.csv
    python -m mtlgrn_core evaluate --run runs/demo [--truth truth.csv]
    python -m mtlgrn_core report --run runs/demo --out report.html [--knockout G001 --knockout G002+G003:0.5] [--pdf]
        [--compare G001=my_knockout_de.tsv] [--screen G020+G031:down]

Bad input ends with exit code 2 and the validation message (no traceback).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path

from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.model.splits import SPLIT_KINDS

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mtlgrn_core",
                                     description="MTLGRN: infer a gene regulatory network and predict knockouts.")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="write a simulated dataset folder (the built-in demo)")
    sim.add_argument("--genes", type=int, default=150, help="number of genes (default 150)")
    sim.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sim.add_argument("--out", required=True, type=Path, help="dataset folder to write")

    train = sub.add_parser("train", help="train MTLGRN on a dataset folder and save the run")
    train.add_argument("--data", required=True, type=Path, help="dataset folder (expression.csv, network.csv, ...)")
    train.add_argument("--out", required=True, type=Path, help="run folder to write")
    train.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 200)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--split", choices=SPLIT_KINDS, default="edge",
                       help="how the prior is split into train / validation / test (60/10/30 %%): edge hold-out "
                            "(default), the same with reciprocal pairs grouped (edge_grouped) or TF hold-out (tf)")
    train.add_argument("--split-file", type=Path, default=None,
                       help="CSV source,target,label,role to train and test on exactly these pairs (its kind, "
                            "edge or TF hold-out, replaces --split)")
    train.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda")
    train.add_argument("--no-log", action="store_true", help="never log-transform the expression")
    train.add_argument("--regulators", choices=("prior", "all"), default="prior",
                       help="without tfs.txt, the candidate regulators: the prior's regulators (default) or every gene")
    cells = train.add_argument_group("single-cell data (expression.h5ad)")
    cells.add_argument("--layer", default=None, help="matrix to use: a layer name (e.g. counts), raw, or X (default: "
                                                     "a counts layer, raw when X holds scaled data, else X)")
    cells.add_argument("--gene-column", default=None, help="var column with the gene names (default: var_names, or a "
                                                             "symbol column that matches the prior better)")
    cells.add_argument("--group-column", default=None, help="obs column of the cell groups (e.g. cell_type): "
                                                              "metacells never mix groups")
    cells.add_argument("--perturbation-column", default=None, help="obs column naming each cell's perturbed gene(s): "
                                                                     "builds the sample sheet")
    cells.add_argument("--max-genes", type=_budget, default=3000,
                       help="keep this many most variable genes plus those the prior names (default 3000; 0 = all)")
    cells.add_argument("--max-samples", type=_budget, default=500,
                       help="aggregate cells into about this many metacells (default 500; 0 = every cell)")
    train.add_argument("--prior-min-confidence", default=None, metavar="LEVEL_OR_NUMBER",
                       help="keep only the prior's edges at least this confident: a DoRothEA level (C keeps A-C) or "
                            "a number for a confidence / score / importance column")
    train.add_argument("--groups", default=None, metavar="COLUMN",
                       help="train one run per value of this sample column (an .h5ad obs column such as cell_type, "
                            "or a column of sample_info.csv), same settings; --out becomes a folder of runs")
    train.add_argument("--seeds", type=int, default=1, metavar="N",
                       help="train an ensemble of N members (seeds --seed ... --seed+N-1, one split) as Dask tasks: "
                            "edge stability and knockout uncertainty; --out becomes an ensemble run folder")
    train.add_argument("--bootstrap", action="store_true",
                       help="with --seeds: each member trains on its own resample of the training samples, drawn "
                            "with replacement, so that the spread of their predictions reflects how much the data "
                            "support them (without it the members differ only in their seed)")
    train.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="with --seeds: a running Dask scheduler (tcp://host:8786); default a local cluster of "
                            "this machine")
    train.add_argument("--workers", type=int, default=None,
                       help="with --seeds and no --scheduler: worker processes of the local cluster (default one per "
                            "core, at most 4)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    compare = sub.add_parser("compare", help="compare the networks and a knockout of several runs (one per group)")
    compare.add_argument("--runs", required=True, type=Path, nargs="+",
                         help="run folders (e.g. runs/by_type/*), or one folder of runs written by train --groups")
    compare.add_argument("--out", required=True, type=Path, help="folder for edges.csv, regulators.csv, knockout.csv")
    compare.add_argument("--top", type=int, default=500, help="each run's best edges compared (default 500)")
    compare.add_argument("--knockout", default=None, metavar="GENES",
                         help="genes to knock out in every run (comma-separated): knockout.csv, genes x groups")
    compare.add_argument("--dose", type=float, default=0.0, help="dose of that perturbation (default 0)")

    pred = sub.add_parser("predict", help="rank candidate TF -> gene edges of a trained run")
    pred.add_argument("--run", required=True, type=Path, help="run folder")
    pred.add_argument("--out", required=True, type=Path, help="CSV to write")
    pred.add_argument("--top", type=int, default=None, help="keep the best N pairs (default: all, up to 1e6)")
    pred.add_argument("--stability-top", type=int, default=None, metavar="K",
                      help="ensembles: an edge's stability is the share of members ranking it in their top K "
                           "(default: as many as the prior has edges, at least 100)")
    pred.add_argument("--format", choices=("csv", "decoupler"), default="csv",
                      help="csv (default): rank,source,target,score,in_prior; decoupler: source,target,weight, the "
                           "weight the score signed by the mode of regulation (the prior's sign, else the run's "
                           "linear response, else the co-expression), as decoupler / CollecTRI networks hold it")
    pred.add_argument("--h5ad-out", type=Path, default=None, metavar="FILE",
                      help="also add the edges to this AnnData file of yours (in place): uns['mtlgrn']['edges'], "
                           "with the run and settings in uns['mtlgrn']['predict']")

    ko = sub.add_parser("knockout", help="predict expression changes after knocking genes out or down")
    ko.add_argument("--run", required=True, type=Path, help="run folder")
    which = ko.add_mutually_exclusive_group(required=True)
    which.add_argument("--genes", help="comma-separated genes perturbed together, e.g. G001,G002")
    which.add_argument("--genes-file", type=Path, metavar="FILE",
                       help="many perturbations in one call: a text file with one a line (a gene, or genes perturbed "
                            "together joined by +, e.g. G001+G002; # comments); --out gets one column of predicted "
                            "changes (delta) per perturbation")
    ko.add_argument("--dose", type=float, default=0.0,
                    help="0 knockout (default), 0.5 knockdown to half, >1 overexpression")
    ko.add_argument("--out", required=True, type=Path, help="CSV to write")
    ko.add_argument("--samples", default=None, metavar="CONTEXT",
                    help="with --genes: predict in a context instead of from the control samples: column=value of "
                         "the sample information (e.g. cell_type=B), a value of one of its columns, or sample names "
                         "(comma-separated); the perturbed genes lose their level there and every change is added to "
                         "its mean expression")
    ko.add_argument("--explain", type=int, default=0, metavar="N",
                    help="add a paths column: each gene's N regulatory paths from the perturbed genes that carry "
                         "most of its change, e.g. 'A -> B -> C (+0.42)' (for the most changed genes)")
    ko.add_argument("--compare", type=Path, default=None, metavar="DE_TABLE",
                    help="with --genes: compare the prediction with your own experiment of the same perturbation, a "
                         "differential-expression table (gene, log2 fold change, optional adjusted p-value; DESeq2, "
                         "edgeR, limma or scanpy export, CSV/TSV, optionally gzipped): prints Pearson, Spearman, "
                         "sign agreement and top-k overlap and writes <out stem>_compare.csv")
    ko.add_argument("--h5ad-out", type=Path, default=None, metavar="FILE",
                    help="also add the predicted changes to this AnnData file of yours (in place): var columns "
                         "mtlgrn_ko_<GENES>_delta (and _log2fc; one per perturbation with --genes-file), NaN for "
                         "genes not in the run, with the run and settings in uns['mtlgrn']['knockouts']")

    why = sub.add_parser("explain", help="why a gene moves after a knockout: the regulatory paths carrying its change")
    why.add_argument("--run", required=True, type=Path, help="run folder")
    why.add_argument("--genes", required=True, help="comma-separated perturbed genes, e.g. G001,G002")
    why.add_argument("--target", required=True, help="the responding gene, e.g. G020")
    why.add_argument("--dose", type=float, default=0.0, help="0 knockout (default), 0.5 knockdown to half")
    why.add_argument("--top", type=int, default=5, help="paths to list (default 5)")

    _add_screen_parser(sub)
    _add_report_parser(sub)
    ev = sub.add_parser("evaluate", help="test metrics and baselines of a run on its stored split (as metrics.json)")
    ev.add_argument("--run", required=True, type=Path, help="run folder")
    ev.add_argument("--truth", type=Path, default=None,
                    help="a ground-truth network (source,target[,sign]): also score every pair outside the "
                         "run's training graph against it")
    return parser


def _add_screen_parser(sub) -> None:
    from mtlgrn_core.answers.screen_scores import DEFAULT_PAIRS, DIRECTIONS, MOVED, STATE_GENES

    scr = sub.add_parser("screen", help="in-silico screen: rank every regulator by how its perturbation moves your "
                                        "target genes, or turns one group of samples into another")
    scr.add_argument("--run", required=True, type=Path, help="run folder (an ensemble: every member screens)")
    what = scr.add_mutually_exclusive_group(required=True)
    what.add_argument("--targets", help="target screen: comma-separated genes to move, e.g. G020,G031")
    what.add_argument("--targets-file", type=Path, metavar="FILE",
                      help="target screen: a gene set file (names separated by commas, spaces or lines; # comments; "
                           "or a GMT line)")
    what.add_argument("--from", dest="from_group", metavar="GROUP",
                      help="state screen: the samples to change, column=value of the sample information (e.g. "
                           "condition=disease) or a value of one of its columns; with --to")
    scr.add_argument("--to", dest="to_group", metavar="GROUP", help="state screen: the samples to move toward")
    scr.add_argument("--direction", choices=DIRECTIONS, default="down",
                     help="target screen: lower (down, default) or raise (up) the targets")
    scr.add_argument("--dose", type=float, default=0.0,
                     help="every candidate's dose: 0 knockout (default), 0.5 knockdown to half, 2 overexpression")
    scr.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, metavar="K",
                     help=f"then perturb the best K singles two at a time (default {DEFAULT_PAIRS}; 0: no pairs); "
                          "written to <out stem>-pairs.csv beside their additive expectation")
    scr.add_argument("--samples", default=None, metavar="CONTEXT",
                     help="target screen: perturb in a context (column=value of the sample information, e.g. "
                          "cell_type=B) instead of the control samples")
    scr.add_argument("--genes", type=int, default=STATE_GENES,
                     help=f"state screen: compare the N genes whose group means differ most (default {STATE_GENES})")
    scr.add_argument("--out", required=True, type=Path,
                     help="CSV of the candidates, best first: rank, regulator, measured, score, targets_moved (by at "
                          f"least {MOVED:g} of their spread; pearson for a state screen), path")
    scr.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_report_parser(sub) -> None:
    rep = sub.add_parser("report", help="one self-contained HTML file of a run: data, settings, training, metrics "
                                        "against the baselines, network, knockouts with their paths")
    rep.add_argument("--run", required=True, type=Path, help="run folder")
    rep.add_argument("--out", required=True, type=Path, help="HTML file to write")
    rep.add_argument("--knockout", action="append", default=[], metavar="GENES[:DOSE]",
                     help="a knockout to include, e.g. G001 or G001+G002:0.5 (repeat for several)")
    rep.add_argument("--screen", action="append", default=[], metavar="TARGETS[:DIRECTION[:DOSE]] or FROM..TO",
                     help="an in-silico screen to include: target genes joined by + with down (default) or up and a "
                          "dose (e.g. G020+G031:down:0), or two sample groups (e.g. condition=disease.."
                          "condition=healthy); repeat for several")
    rep.add_argument("--pdf", action="store_true", help="also print it to a PDF beside it (needs Chromium)")
    rep.add_argument("--compare", action="append", default=[], metavar="GENES[:DOSE]=DE_TABLE",
                     help="compare a knockout with your own experiment's differential-expression table, e.g. "
                          "G001=ko_de.tsv (the knockout is added when no --knockout names it; repeat for several)")


def _budget(text: str) -> int | None:
    """A gene or sample budget: a whole number, 0 for none."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give a budget, or 0 for none")
    return value or None


def _simulate(args) -> None:
    from mtlgrn_core.inputs.data import write_dataset
    from mtlgrn_core.inputs.simulate import simulate

    if args.genes < 10:
        raise DataValidationError(f"--genes {args.genes} is too small; simulate at least 10 genes.")
    dataset = simulate(args.genes, seed=args.seed)
    write_dataset(dataset, args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in dataset.summary().items() if v))


def _train(args) -> None:
    from mtlgrn_core.evaluation.edge_support import prior_support
    from mtlgrn_core.inputs.data import load_dataset
    from mtlgrn_core.inputs.priors import describe_regulators
    from mtlgrn_core.inputs.single_cell import CellOptions
    from mtlgrn_core.model.config import TrainConfig
    from mtlgrn_core.model.splits import read_split

    if args.groups and args.group_column and args.groups != args.group_column:
        raise DataValidationError(f"--groups {args.groups} and --group-column {args.group_column} differ: give "
                                  "--groups alone (metacells are then made within its groups).")
    group_column = args.group_column or args.groups  # metacells never mix the groups trained apart
    cells = CellOptions(layer=args.layer, gene_column=args.gene_column, group_column=group_column,
                        perturbation_column=args.perturbation_column, max_genes=args.max_genes,
                        max_samples=args.max_samples)
    dataset = load_dataset(args.data, log_transform=False if args.no_log else "auto", regulators=args.regulators,
                           prior_min_confidence=args.prior_min_confidence, cells=cells)
    for note in dataset.warnings:
        print(f"note: {note}", file=sys.stderr)
    print(f"note: candidate regulators: {describe_regulators(dataset.regulator_rule, len(dataset.tfs))}.",
          file=sys.stderr)
    if len(dataset.prior):
        print(f"note: prior: {prior_support(len(dataset.prior), dataset.prior['source'].nunique())[0]}",
              file=sys.stderr)
    config = TrainConfig(seed=args.seed, split=args.split, device=args.device)
    if args.epochs is not None:
        config.epochs = args.epochs
    if args.seeds < 1:
        raise DataValidationError(f"--seeds {args.seeds}: give the number of ensemble members, 1 or more.")
    if (args.scheduler or args.workers) and args.seeds == 1:
        raise DataValidationError("--scheduler and --workers run ensemble members: add --seeds N (N >= 2).")
    if args.bootstrap and args.seeds < 2:
        raise DataValidationError("--bootstrap resamples the samples of each member of an ensemble: add --seeds N "
                                  "(N >= 2), or leave --bootstrap out to train one run on every sample.")
    config.bootstrap = args.bootstrap
    split = read_split(args.split_file, dataset.genes, tfs=dataset.tfs) if args.split_file else None
    if args.seeds > 1:
        _train_ensembles(args, dataset, config, split)
        return
    if args.groups:
        _train_groups(args, dataset, config)
        return
    run = _fit_and_save(dataset, config, split, args.out, quiet=args.quiet)
    print(json.dumps({"run": str(args.out), "tasks": run.tasks, "test": run.metrics.get("test"),
                      "baselines": run.metrics.get("baselines")}, indent=2))
    _thin_reference(run.metrics.get("test"))


def _cell_groups(args, dataset) -> dict:
    """``{value: dataset of that group}`` of ``--groups`` (notes on the groups left out on stderr)."""
    from mtlgrn_core.inputs.single_cell import info_column
    from mtlgrn_core.runs.groups import group_datasets

    if args.split_file:
        raise DataValidationError("--split-file and --groups cannot be combined: each group draws its own split.")
    info = dataset.sample_info
    renamed = info is not None and args.groups not in info.columns and info_column(args.groups) in info.columns
    groups, notes = group_datasets(dataset, info_column(args.groups) if renamed else args.groups)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return groups


def _train_ensembles(args, dataset, config, split) -> None:
    """``--seeds N``: one ensemble (or one per group of ``--groups``, under ``--out/<group>``) trained as Dask
    tasks; each member that failed is named, the others kept; a JSON summary."""
    from mtlgrn_core.runs.cluster import EnsembleJob, dask_client, train_ensembles
    from mtlgrn_core.runs.groups import folder_names

    if args.groups:
        groups = _cell_groups(args, dataset)
        folders = folder_names(groups)
        jobs = [EnsembleJob(group, config, args.seeds, args.out / folders[value],
                            info={"group": {"column": args.groups, "value": value}})
                for value, group in groups.items()]
    else:
        jobs = [EnsembleJob(dataset, config, args.seeds, args.out, split=split)]
    where = args.scheduler or "a local cluster of this machine"
    kind = ", each on its own bootstrap resample of the samples" if config.bootstrap else ""
    print(f"training {len(jobs) * args.seeds} members ({args.seeds} per ensemble{kind}) on {where}", file=sys.stderr)
    with dask_client(args.scheduler, workers=args.workers) as client:
        outcomes = train_ensembles(jobs, client, on_event=lambda message: print(message, file=sys.stderr))
    summary = {str(job.out): {"members": outcome.trained, "failures": outcome.failures}
               for job, outcome in zip(jobs, outcomes)}
    print(json.dumps({"ensembles": summary}, indent=2))
    if not any(outcome.out for outcome in outcomes):
        raise DataValidationError("every member of every ensemble failed (errors above); nothing was saved.")
    print(f"note: {_spread_note(config.bootstrap)}", file=sys.stderr)


def _spread_note(bootstrap: bool) -> str:
    """What the spread of an ensemble's predictions (``delta_sd``, ``score_sd``) means, for the train command."""
    from mtlgrn_core.runs.ensemble import BOOTSTRAP_SPREAD, SEED_SPREAD

    return f"{BOOTSTRAP_SPREAD}." if bootstrap else f"{SEED_SPREAD} (train with --bootstrap)."


def _train_groups(args, dataset, config) -> None:
    """One run per group of ``--groups`` under ``--out/<group>``; a JSON summary of them."""
    from mtlgrn_core.runs.groups import folder_names

    groups = _cell_groups(args, dataset)
    folders = folder_names(groups)
    summary = {}
    for value, group in groups.items():
        print(f"group {value!r}: {group.n_genes} genes x {len(group.samples)} samples", file=sys.stderr)
        out = args.out / folders[value]
        run = _fit_and_save(group, config, None, out, quiet=args.quiet,
                            info={"group": {"column": args.groups, "value": value}})
        summary[value] = {"run": str(out), "samples": len(group.samples), "tasks": run.tasks,
                          "test": run.metrics.get("test")}
    print(json.dumps({"groups": summary}, indent=2))


def _fit_and_save(dataset, config, split, out: Path, *, quiet: bool, info: dict | None = None):
    """Train with a progress bar and save the run to ``out`` (a diverged fit's kept model too)."""
    from tqdm import tqdm

    from mtlgrn_core.model.train import TrainingDiverged, fit
    from mtlgrn_core.runs.run_folder import save_run

    bar = tqdm(total=config.epochs, disable=quiet, unit="epoch", file=sys.stderr)

    def progress(epoch_info) -> None:
        if epoch_info.phase == "refit" and epoch_info.epoch == 1:
            bar.reset(total=epoch_info.epochs)
            bar.set_description("refit on every sample")
        bar.update(1)
        bar.set_postfix({"loss": f"{epoch_info.losses['total']:.3f}",
                         **{f"val_{k}": f"{v:.3f}" for k, v in epoch_info.validation.items() if k != "auroc"}})

    try:
        run = fit(dataset, config, on_epoch=progress, split=split)
    except TrainingDiverged as exc:
        bar.close()
        if exc.run is None:
            raise
        exc.run.info.update(info or {})
        save_run(exc.run, out)
        raise DataValidationError(f"{exc} The kept model is saved in {out}.") from exc
    bar.close()
    run.info.update(info or {})
    save_run(run, out)
    return run


def _predict(args) -> None:
    from mtlgrn_core.answers.infer import score_edges
    from mtlgrn_core.runs.ensemble import ensemble_edges, load_ensemble
    from mtlgrn_core.runs.run_folder import is_ensemble, load_run

    if is_ensemble(args.run):
        source = load_ensemble(args.run)
        table = ensemble_edges(source, top=args.top, stability_top=args.stability_top)
        print(f"ensemble of {len(source.members)} members: score = their mean, score_sd = its spread, stability "
              f"= share of members ranking the pair in their top {table.attrs['stability_top']}", file=sys.stderr)
    else:
        source = load_run(args.run)
        table = score_edges(source, top=args.top)
    settings = {"top": "all" if args.top is None else args.top, "format": args.format,
                "stability_top": table.attrs.get("stability_top")}
    if args.format == "decoupler":
        from mtlgrn_core.report.result_exports import decoupler_network

        table = decoupler_network(table, source)
        member = " (the ensemble's first member's)" if is_ensemble(args.run) else ""
        counts = ", ".join(f"{where} {n}" for where, n in table.attrs["sign_from"].items())
        print(f"decoupler network: weight = score x sign (+1 activation, -1 repression); signs{member} from "
              f"{counts}.", file=sys.stderr)
    added = None
    if args.h5ad_out is not None:  # before --out is written: a bad file leaves no output
        from mtlgrn_core.report.result_exports import add_to_anndata

        added = add_to_anndata(args.h5ad_out, source, edges=table, settings=settings)
    table.to_csv(args.out, index=False)
    print(f"wrote {len(table)} ranked pairs to {args.out}")
    if added is not None:
        print(added.describe())


def _knockout(args) -> None:
    from mtlgrn_core.answers.infer import ExtrapolationWarning, predict_knockout
    from mtlgrn_core.runs.run_folder import is_ensemble, load_run

    if args.genes_file is not None:
        if args.compare is not None or args.samples is not None:
            raise DataValidationError(f"{'--compare' if args.compare is not None else '--samples'} applies to one "
                                      "perturbation: use it with --genes, not with --genes-file.")
        _knockout_many(args)
        return
    if args.samples is not None and args.explain > 0:
        raise DataValidationError("--explain traces the prediction from the control samples: leave out --samples, "
                                  "or --explain.")
    columns = ["gene", "baseline", "predicted", "delta", "log2fc"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        if is_ensemble(args.run):  # imported here: a single run's query needs no ensemble code
            from mtlgrn_core.runs.ensemble import ensemble_knockout, load_ensemble

            source = load_ensemble(args.run)
            table = ensemble_knockout(source, args.genes, dose=args.dose, samples=args.samples)
            columns += ["delta_sd", "uncertain"]
        else:
            source = load_run(args.run)
            table = predict_knockout(source, args.genes, dose=args.dose, samples=args.samples)
            columns += [c for c in ("range_low", "range_high") if c in table.columns]
    _print_notes(table)
    comparison = _experiment_comparison(args.compare, table) if args.compare is not None else None
    if "members" in table.attrs:
        print(f"ensemble of {table.attrs['members']} members: delta = their mean; delta_low / delta_high = the "
              "central 95 % of their predictions; uncertain = that range holds 0.", file=sys.stderr)
    if args.explain > 0:
        from mtlgrn_core.answers.explain import EXPLAINED_GENES, path_column

        table["paths"] = path_column(load_run(args.run), table, args.genes, args.dose, top=args.explain)
        member = " (of the ensemble's first member)" if is_ensemble(args.run) else ""
        print(f"paths{member}: the {args.explain} regulatory paths carrying most of each gene's change, with their "
              f"contribution, for the {EXPLAINED_GENES} most changed genes.", file=sys.stderr)
    added = None
    if args.h5ad_out is not None:  # before --out is written: a bad file leaves no output
        from mtlgrn_core.report.result_exports import add_to_anndata

        perturbation = "+".join(dict.fromkeys(g.strip() for g in args.genes.split(",") if g.strip()))
        added = add_to_anndata(args.h5ad_out, source, knockouts={perturbation: table},
                               settings={"dose": args.dose, "context": table.attrs.get("context", ""),
                                         "samples": args.samples})
    table.to_csv(args.out, index=False)
    shown = table[~table["perturbed"]].head(10)
    print(f"wrote {len(table)} genes to {args.out}; most changed:")
    print(shown[columns].to_string(index=False))
    if comparison is not None:
        _write_comparison(comparison, args.out)
    if added is not None:
        print(added.describe())


def _experiment_comparison(path: Path, table):
    """``knockout --compare``: the prediction against the user's differential-expression table (read before
    anything is written, so that a bad table leaves no output); what was compared, on stderr."""
    from mtlgrn_core.evaluation.de_comparison import (
        PREDICTED_LABELS,
        compare_prediction,
        predicted_change,
        read_de_table,
    )

    predicted, column = predicted_change(table)
    de = read_de_table(path, genes=table["gene"])
    comparison = compare_prediction(predicted, de)
    why = ("the run's expression is log-transformed or non-negative" if column == "log2fc" else
           "the run's expression holds negative values, so it has no fold change")
    print(f"compared: the {PREDICTED_LABELS[column]} ({column}; {why}) with '{de.columns['log2fc']}' of "
          f"{de.name}.", file=sys.stderr)
    for note in comparison.notes:
        print(f"note: {note}", file=sys.stderr)
    return comparison


def _write_comparison(comparison, out: Path) -> None:
    """The comparison's figures on stdout and its matched genes beside ``out`` (``<stem>_compare.csv``)."""
    from mtlgrn_core.viz.escape import csv_safe

    path = out.with_name(f"{out.stem}_compare.csv")
    csv_safe(comparison.table).to_csv(path, index=False)
    print(f"compared with {comparison.name}:")
    print(comparison.summary().to_string(index=False))
    print(f"wrote the {comparison.n_genes} matched genes (gene, predicted, measured, padj) to {path}")


def _knockout_many(args) -> None:
    """``knockout --genes-file``: every perturbation of the file predicted in one call, one column of changes
    each (:func:`~mtlgrn_core.answers.infer.predict_knockouts`; an ensemble's members averaged)."""
    from mtlgrn_core.answers.infer import ExtrapolationWarning, predict_knockouts, read_perturbation_file
    from mtlgrn_core.runs.run_folder import is_ensemble, load_run

    if args.explain > 0:
        raise DataValidationError("--explain lists the paths of one perturbation: use it with --genes, not with "
                                  "--genes-file.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        if is_ensemble(args.run):
            from mtlgrn_core.runs.ensemble import ensemble_knockouts, load_ensemble

            source = load_ensemble(args.run)
            perturbations = read_perturbation_file(source.first, args.genes_file)
            table = ensemble_knockouts(source, perturbations, dose=args.dose)
        else:
            source = load_run(args.run)
            table = predict_knockouts(source, read_perturbation_file(source, args.genes_file), dose=args.dose)
    _print_notes(table)
    if "members" in table.attrs:
        print(f"ensemble of {table.attrs['members']} members: each delta is their mean.", file=sys.stderr)
    added = None
    if args.h5ad_out is not None:  # before --out is written: a bad file leaves no output
        from mtlgrn_core.report.result_exports import add_to_anndata

        names = [c for c in table.columns if c not in ("gene", "baseline")]
        added = add_to_anndata(args.h5ad_out, source, settings={"dose": args.dose, "file": args.genes_file.name},
                               knockouts={n: table[["gene", n]].rename(columns={n: "delta"}) for n in names})
    table.to_csv(args.out, index=False)
    print(f"wrote {table.shape[1] - 2} perturbations of {args.genes_file.name} at dose {args.dose:g} to {args.out} "
          f"({len(table)} genes; one column of predicted changes, delta, per perturbation)")
    if added is not None:
        print(added.describe())


def _print_notes(table) -> None:
    """A knockout table's warnings and where its prediction comes from, on stderr."""
    for note in table.attrs.get("warnings", []):
        print(f"warning: {note}", file=sys.stderr)
    print(f"prediction {table.attrs['source']}.", file=sys.stderr)
    if table.attrs.get("context"):
        print(f"predicted {table.attrs['context']}: baseline = their mean expression.", file=sys.stderr)
    if table.attrs.get("evidence"):
        print(f"how far to trust it: {table.attrs['evidence']}", file=sys.stderr)
    if "range_low" in table.columns:
        print("range_low / range_high: where the changes of the run's measured perturbations fell around this "
              "prediction (central 95 %).", file=sys.stderr)


def _explain(args) -> None:
    from mtlgrn_core.answers.explain import explain
    from mtlgrn_core.runs.run_folder import load_run

    result = explain(load_run(args.run), args.genes, args.target, args.dose, top=args.top)
    if result.note:
        print(result.note)
    if result.change == 0 and not len(result.paths):
        return
    print(f"{result.gene} changes by {result.change:+.4g} after {'+'.join(result.perturbed)} at dose {args.dose:g}; "
          f"the {len(result.paths)} path(s) below carry {_percent(result.explained)} of it.")
    if len(result.paths):
        shown = result.paths.drop(columns="genes")
        print(shown.to_string(index=False, formatters={"contribution": "{:+.4g}".format, "share": _percent}))
    print("parts of the change:\n" + result.terms.to_string(float_format="{:+.4g}".format))


def _screen(args) -> None:
    from tqdm import tqdm

    from mtlgrn_core.answers.screen_scores import read_gene_set
    from mtlgrn_core.answers.screens import state_screen, target_screen
    from mtlgrn_core.runs.ensemble import load_ensemble
    from mtlgrn_core.runs.run_folder import is_ensemble, load_run

    if (args.from_group is None) != (args.to_group is None):
        raise DataValidationError("a state screen needs both --from and --to (two sample groups, e.g. "
                                  "--from condition=disease --to condition=healthy).")
    if args.pairs < 0:
        raise DataValidationError(f"--pairs {args.pairs}: give 0 (no pairs) or more.")
    if args.targets_file is not None:
        try:
            targets = read_gene_set(args.targets_file.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise DataValidationError(f"cannot read the gene set {args.targets_file}: {exc}. Give a text file of "
                                      "gene names.") from exc
    else:
        targets = args.targets
    members = load_ensemble(args.run).members if is_ensemble(args.run) else load_run(args.run)
    bar = tqdm(total=1, disable=args.quiet, unit="step", file=sys.stderr)

    def progress(done: int, total: int, message: str) -> None:
        bar.total = total
        bar.n = done
        bar.set_description(message)
        bar.refresh()

    try:
        if args.from_group is not None:
            screen = state_screen(members, args.from_group, args.to_group, dose=args.dose, pairs=args.pairs,
                                  n_genes=args.genes, progress=progress)
        else:
            screen = target_screen(members, targets, args.direction, dose=args.dose, pairs=args.pairs,
                                   context=args.samples, progress=progress)
    finally:
        bar.close()
    for note in screen.notes:
        print(f"warning: {note}", file=sys.stderr)
    print(f"{screen.question}.", file=sys.stderr)
    screen.hits.to_csv(args.out, index=False)
    written = [args.out]
    if len(screen.pairs):
        pairs_out = args.out.with_name(f"{args.out.stem}-pairs.csv")
        screen.pairs.to_csv(pairs_out, index=False)
        written.append(pairs_out)
    shown = screen.hits.drop(columns=["path"]).head(10)
    print(shown.to_string(index=False, float_format="{:.3f}".format))
    print("wrote " + " and ".join(str(p) for p in written))


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.0f} %"


def _compare(args) -> None:
    from mtlgrn_core.answers.group_comparison import edge_presence, knockout_across_groups, regulator_rewiring
    from mtlgrn_core.runs.run_folder import load_run

    folders = list(args.runs)
    if len(folders) == 1 and not (folders[0] / "config.json").exists():
        folders = sorted(p for p in folders[0].iterdir() if (p / "config.json").exists())
    runs = {}
    for folder in folders:
        run = load_run(folder)
        runs[str((run.info.get("group") or {}).get("value", folder.name))] = run
    args.out.mkdir(parents=True, exist_ok=True)
    presence = edge_presence(runs, top=args.top)
    presence.to_csv(args.out / "edges.csv", index=False)
    rewiring = regulator_rewiring(presence, list(runs))
    rewiring.to_csv(args.out / "regulators.csv", index=False)
    print(f"{len(runs)} groups ({', '.join(runs)}): {len(presence)} edges in some group's top {args.top}, "
          f"{int((presence['groups'] == 1).sum())} in one group only; wrote {args.out / 'edges.csv'} and "
          f"{args.out / 'regulators.csv'}")
    print("most rewired regulators:\n" + rewiring.head(10).to_string(index=False))
    if args.knockout:
        genes = [g.strip() for g in args.knockout.split(",") if g.strip()]
        matrix = knockout_across_groups(runs, genes, dose=args.dose)
        matrix.rename_axis("gene").to_csv(args.out / "knockout.csv")
        for group, source in matrix.attrs["sources"].items():
            print(f"{group}: prediction {source}.", file=sys.stderr)
        print(f"wrote {args.out / 'knockout.csv'} ({len(matrix)} genes x {matrix.shape[1]} groups)")


def _evaluate(args) -> None:
    from mtlgrn_core.evaluation.edge_evaluation import test_split_scores, truth_scores
    from mtlgrn_core.inputs.priors import read_edges
    from mtlgrn_core.model.methods import ENSEMBLE
    from mtlgrn_core.model.split_metrics import test_metrics
    from mtlgrn_core.runs.ensemble import load_ensemble, with_ensemble_scores
    from mtlgrn_core.runs.run_folder import is_ensemble, load_run

    run = load_run(args.run)
    ensemble = load_ensemble(args.run) if is_ensemble(args.run) else None
    out = test_metrics(run)
    if ensemble is not None and out.get("test") is not None:  # the members' mean score on the same test pairs
        scored = with_ensemble_scores(test_split_scores(run), ensemble)
        out["ensemble"] = {"members": len(ensemble.members), **_plain_metrics(scored.metrics().loc[ENSEMBLE])}
    if args.truth is not None:
        notes: list[str] = []
        scored = truth_scores(run, read_edges(args.truth, warnings=notes))
        if ensemble is not None:
            scored = with_ensemble_scores(scored, ensemble)
        out["truth"] = {"file": args.truth.name, "pairs": len(scored.labels),
                        "positives": int(scored.labels.sum()), "notes": notes + scored.notes,
                        "methods": {name: _plain_metrics(row) for name, row in scored.metrics().iterrows()}}
    print(json.dumps(out, indent=2))
    _thin_reference(out.get("test"))
    if "truth" in out:
        _thin_reference({"n_positives": out["truth"]["positives"]}, f"the ground truth ({args.truth.name})")


def _report(args) -> None:
    from mtlgrn_core.report.html_report import parse_knockout, screen_from_spec, write_report
    from mtlgrn_core.runs.run_folder import load_run

    knockouts = [parse_knockout(text) for text in args.knockout]
    run = load_run(args.run)
    screens = [screen_from_spec(run, text) for text in args.screen]
    experiments = {}
    if args.compare:
        from mtlgrn_core.evaluation.de_comparison import read_de_table
        from mtlgrn_core.report.html_report import parse_comparison

        for text in args.compare:
            knockout, path = parse_comparison(text)
            experiments[knockout] = read_de_table(path, genes=run.genes)
            knockouts += [knockout] if knockout not in knockouts else []
    for path in write_report(run, args.out, knockouts, pdf=args.pdf, experiments=experiments, screens=screens):
        print(f"wrote {path}")


def _thin_reference(test: dict | None, reference: str = "the held-out part of the prior") -> None:
    """On stderr: why edge figures on too few true edges mean little (:func:`edge_support.thin_reference_note`);
    the JSON keeps them for scripts."""
    from mtlgrn_core.evaluation.edge_support import thin_reference_note

    note = thin_reference_note(int(test["n_positives"]), reference) if test else None
    if note:
        print(f"note: the edge figures above mean little: {note}", file=sys.stderr)


def _plain_metrics(row) -> dict:
    return {k: (round(float(v), 5) if isinstance(v, float) else int(v)) for k, v in row.items()}


COMMANDS = {"simulate": _simulate, "train": _train, "predict": _predict, "knockout": _knockout, "explain": _explain,
            "screen": _screen, "compare": _compare, "evaluate": _evaluate, "report": _report}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except DataValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
