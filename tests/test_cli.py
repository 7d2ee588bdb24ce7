"""The command line end to end on a simulated dataset, and the package's import hygiene."""

import json
import subprocess
import sys

import pandas as pd
import pytest


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mtlgrn_core", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data, run = root / "data", root / "run"
    sim = _cli("simulate", "--genes", 150, "--seed", 0, "--out", data)  # the built-in demo
    assert sim.returncode == 0, sim.stderr
    train = _cli("train", "--data", data, "--out", run, "--epochs", 20, "--seed", 0)
    assert train.returncode == 0, train.stderr
    return root, data, run, train


def test_simulate_writes_a_dataset_folder(trained):
    _, data, _, _ = trained
    for name in ("expression.csv", "network.csv", "tfs.txt", "samples.csv", "promoters.fa", "annotations.csv",
                 "truth.csv"):
        assert (data / name).stat().st_size > 0, name


def test_train_writes_metrics_with_baselines(trained):
    _, _, run, train = trained
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("auroc", "auprc", "auprc_ratio", "epr"):
        assert 0 <= metrics["test"][key]
        assert key in metrics["baselines"]["degree"] and key in metrics["baselines"]["pearson"]
    assert "epoch" in train.stderr  # the progress bar
    assert json.loads(train.stdout)["test"] == metrics["test"]


def test_predict_writes_ranked_edges(trained):
    root, _, run, _ = trained
    out = root / "edges.csv"
    result = _cli("predict", "--run", run, "--out", out, "--top", 50)
    assert result.returncode == 0, result.stderr
    edges = pd.read_csv(out)
    assert list(edges.columns) == ["rank", "source", "target", "score", "in_prior"]
    assert len(edges) == 50 and edges["score"].is_monotonic_decreasing


def test_knockout_writes_a_table(trained):
    root, data, run, _ = trained
    tf = (data / "tfs.txt").read_text().split()[0]
    out = root / "ko.csv"
    result = _cli("knockout", "--run", run, "--genes", tf, "--dose", 0, "--out", out)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert {"gene", "baseline", "predicted", "delta", "log2fc"} <= set(table.columns)
    assert table.loc[table["gene"] == tf, "predicted"].item() == 0.0


def test_knockout_of_a_file_of_perturbations_writes_one_column_of_changes_each(trained):
    from mtlgrn_core.answers.infer import predict_knockout
    from mtlgrn_core.runs.run_cache import CACHE_FILES
    from mtlgrn_core.runs.run_folder import load_run

    root, data, run, _ = trained
    assert all((run / name).is_file() for name in CACHE_FILES)  # a query reads them instead of recomputing
    a, b = (data / "tfs.txt").read_text().split()[:2]
    listing = root / "perturbations.txt"
    listing.write_text(f"# regulators\n{a}\n\n{a}+{b}\n{b}\n")
    out = root / "many.csv"
    result = _cli("knockout", "--run", run, "--genes-file", listing, "--dose", 0.5, "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"wrote 3 perturbations of perturbations.txt at dose 0.5 to {out} (150 genes; "
                                      "one column of predicted changes, delta, per perturbation)")
    table = pd.read_csv(out)
    assert list(table.columns) == ["gene", "baseline", a, f"{a}+{b}", b]
    loaded = load_run(run)
    for genes, column in (([a], a), ([a, b], f"{a}+{b}")):
        single = predict_knockout(loaded, genes, dose=0.5).set_index("gene").loc[table["gene"], "delta"]
        assert table[column].to_numpy() == pytest.approx(single.to_numpy(), abs=1e-5)


def test_knockout_takes_genes_or_a_genes_file_and_names_a_bad_line(trained, tmp_path, capsys):
    from mtlgrn_core.cli import main

    root, data, run, _ = trained
    tf = (data / "tfs.txt").read_text().split()[0]
    listing = tmp_path / "perturbations.txt"
    listing.write_text(f"{tf}\n# then a typo\n{tf.lower()}\n")
    out = ["--out", tmp_path / "x.csv"]
    for args, expected in ((["--genes", tf, "--genes-file", listing], "not allowed with argument --genes"),
                           ([], "one of the arguments --genes --genes-file is required")):
        with pytest.raises(SystemExit) as exit_:
            main(["knockout", "--run", str(run), *map(str, args + out)])
        assert exit_.value.code == 2 and expected in capsys.readouterr().err
    assert main(["knockout", "--run", str(run), "--genes-file", str(listing), *map(str, out)]) == 2
    assert f"perturbations.txt, line 3: gene '{tf.lower()}' (did you mean '{tf}'?)" in capsys.readouterr().err
    listing.write_text(f"{tf}\n")
    assert main(["knockout", "--run", str(run), "--genes-file", str(listing), "--explain", "2", *map(str, out)]) == 2
    assert "use it with --genes" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_a_knockout_of_one_run_imports_neither_scikit_learn_nor_torch_geometric(trained, tmp_path):
    # scikit-learn took 0.8 s of a knockout query's start-up and PyTorch Geometric 1.5 s (issue 24): the ensemble
    # and edge-evaluation code is loaded only where used, and the run's saved embeddings stand in for the message
    # passing
    root, data, run, _ = trained
    tf = (data / "tfs.txt").read_text().split()[0]
    code = ("import sys; from mtlgrn_core.cli import main; "
            f"rc = main(['knockout', '--run', {str(run)!r}, '--genes', {tf!r}, '--out', {str(tmp_path / 'k.csv')!r}]); "
            "print(rc, sorted(m for m in ('sklearn', 'torch_geometric', 'mtlgrn_core.runs.ensemble', "
            "'mtlgrn_core.evaluation.edge_evaluation') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "0 []"


def test_a_tf_split_file_trains_as_tf_hold_out_and_is_evaluated_on_its_pairs(trained):
    root, data, _, _ = trained
    from mtlgrn_core import load_dataset
    from mtlgrn_core.model.splits import TRAIN, read_split, write_split
    from mtlgrn_core.model.train import make_split
    from mtlgrn_core.runs.run_folder import load_run

    dataset = load_dataset(data)
    split_file = write_split(make_split(dataset, "tf", 3), root / "split.csv", dataset.genes)
    result = _cli("train", "--data", data, "--out", root / "run_split", "--epochs", 3, "--split-file",
                  split_file, "--quiet")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((root / "run_split" / "metrics.json").read_text())
    assert metrics["test_pairs"] == int((pd.read_csv(split_file, comment="#")["role"] == "test").sum())
    run = load_run(root / "run_split")
    given = read_split(split_file, dataset.genes, tfs=dataset.tfs)
    assert run.config.split == "tf" and run.split.kind == "tf" == metrics["split"]["kind"]
    assert run.shape.edge_decoder == "evidence"  # held-out regulators are scored the TF hold-out way
    assert (run.split.role == given.role).all() and (run.split.positive == given.positive).all()
    assert {tuple(e) for e in run.inputs.graph.T} == {tuple(e) for e in given.positives(TRAIN).T}
    # evaluated on the pairs it was trained for, from the run folder alone: the same JSON as metrics.json
    evaluated = _cli("evaluate", "--run", root / "run_split")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout) == metrics


def test_a_split_file_without_its_kind_line_is_read_by_its_roles(trained, tmp_path):
    _, data, _, _ = trained
    from mtlgrn_core import load_dataset
    from mtlgrn_core.model.splits import read_split
    from mtlgrn_core.model.train import make_split

    dataset = load_dataset(data)
    for kind in ("tf", "edge_grouped", "edge"):
        make_split(dataset, kind, 1).to_frame(dataset.genes).to_csv(tmp_path / "plain.csv", index=False)
        assert read_split(tmp_path / "plain.csv", dataset.genes, tfs=dataset.tfs).kind == kind


def test_evaluate_against_a_truth_file(trained):
    _, data, run, _ = trained
    result = _cli("evaluate", "--run", run, "--truth", data / "truth.csv")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["test"] == json.loads((run / "metrics.json").read_text())["test"]
    truth = out["truth"]
    assert truth["file"] == "truth.csv" and 0 < truth["positives"] < truth["pairs"]
    assert list(truth["methods"])[:2] == ["MTLGRN", "random"] and 0 <= truth["methods"]["MTLGRN"]["auprc"] <= 1


@pytest.mark.parametrize("case", ["unknown gene", "missing folder", "bad expression", "missing run"])
def test_bad_input_exits_2_with_a_message_and_no_traceback(trained, tmp_path, case):
    _, data, run, _ = trained
    if case == "unknown gene":
        result = _cli("knockout", "--run", run, "--genes", "NOPE1", "--out", tmp_path / "x.csv")
        expected = "NOPE1"
    elif case == "missing folder":
        result = _cli("train", "--data", tmp_path / "absent", "--out", tmp_path / "r")
        expected = "does not exist"
    elif case == "bad expression":
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "expression.csv").write_text("gene,s1,s2\nA,1,oops\nB,2,3\n")
        result = _cli("train", "--data", tmp_path / "d", "--out", tmp_path / "r")
        expected = "expression.csv, line 2"
    else:
        result = _cli("predict", "--run", tmp_path / "norun", "--out", tmp_path / "e.csv")
        expected = "incomplete"
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_knockout_explain_adds_paths_and_explain_prints_them(trained):
    root, data, run, _ = trained
    tf = (data / "tfs.txt").read_text().split()[0]
    out = root / "ko_paths.csv"
    result = _cli("knockout", "--run", run, "--genes", tf, "--out", out, "--explain", 2)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out, keep_default_na=False)
    top = table[~table["perturbed"]].iloc[0]
    assert top["paths"].startswith(f"{tf} -> ") and top["paths"].count(" -> ") >= 1
    assert table.loc[table["gene"] == tf, "paths"].item() == ""  # the dose sets it: nothing to explain
    assert 1 <= len(top["paths"].split("; ")) <= 2
    why = _cli("explain", "--run", run, "--genes", tf, "--target", top["gene"])
    assert why.returncode == 0, why.stderr
    assert f"{top['gene']} changes by" in why.stdout and top["paths"].split(" (")[0] in why.stdout
    assert "common response to any perturbation" in why.stdout
    bad = _cli("explain", "--run", run, "--genes", tf, "--target", "NOT_A_GENE")
    assert bad.returncode == 2 and "'NOT_A_GENE' is not in this run" in bad.stderr and "Traceback" not in bad.stderr


def test_report_writes_one_html_file_with_the_knockouts(trained):
    root, data, run, _ = trained
    tf = (data / "tfs.txt").read_text().split()[0]
    out = root / "report.html"
    result = _cli("report", "--run", run, "--out", out, "--knockout", tf, "--knockout", f"{tf}:0.5")
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert f"Knockout: {tf} knockout" in html and f"Knockout: {tf} at dose 0.5" in html
    bad = _cli("report", "--run", run, "--out", root / "bad.html", "--knockout", "NOT_A_GENE")
    assert bad.returncode == 2 and "'NOT_A_GENE' is not in this run" in bad.stderr and "Traceback" not in bad.stderr
    assert not (root / "bad.html").exists()


def test_importing_the_core_stays_light():
    code = ("import sys, mtlgrn_core; "
            "print(sorted(m for m in ('streamlit', 'torch', 'torch_geometric', 'plotly') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_train_on_an_h5ad_with_a_database_prior(tmp_path):
    from tests.single_cell_data import write_lab_data

    write_lab_data(tmp_path)
    result = _cli("train", "--data", tmp_path, "--out", tmp_path / "run", "--epochs", 3, "--quiet", "--layer",
                  "counts", "--group-column", "cell_type", "--perturbation-column", "guide", "--max-genes", 100,
                  "--max-samples", 60)
    assert result.returncode == 0, result.stderr
    for note in ("gene names taken from var['gene_symbols']", "cells aggregated into", "kept 4 of 6 edges",
                 "candidate regulators: the 3 regulators of the prior network", "sample sheet from the perturbation"):
        assert note in result.stderr, note
    assert json.loads(result.stdout)["tasks"] == ["edge", "knockout", "expression"]


def test_train_one_run_per_cell_group(tmp_path):
    from mtlgrn_core.runs.run_folder import load_run
    from tests.single_cell_data import write_lab_data

    write_lab_data(tmp_path)
    result = _cli("train", "--data", tmp_path, "--out", tmp_path / "runs", "--epochs", 3, "--quiet", "--layer",
                  "counts", "--groups", "cell_type", "--max-genes", 100, "--max-samples", 40)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["groups"]
    assert set(summary) == {"B cell", "T cell"}
    for value, folder in (("B cell", "B_cell"), ("T cell", "T_cell")):
        run = load_run(tmp_path / "runs" / folder)
        assert run.info["group"] == {"column": "cell_type", "value": value}
        assert len(run.samples) == summary[value]["samples"] >= 10  # only that group's metacells
    knockout = _cli("knockout", "--run", tmp_path / "runs" / "T_cell", "--genes", "Gene001", "--out",
                    tmp_path / "ko.csv")
    assert knockout.returncode == 0, knockout.stderr
    assert "from observational data only" in knockout.stderr
    compare = _cli("compare", "--runs", tmp_path / "runs", "--out", tmp_path / "compare", "--top", 20,
                   "--knockout", "Gene001")
    assert compare.returncode == 0, compare.stderr
    edges = pd.read_csv(tmp_path / "compare" / "edges.csv")
    assert {"score B cell", "score T cell", "in B cell", "in T cell", "groups"} <= set(edges.columns)
    assert edges["in T cell"].sum() == edges["in B cell"].sum() == 20
    matrix = pd.read_csv(tmp_path / "compare" / "knockout.csv", index_col="gene")
    assert list(matrix.columns) == ["B cell", "T cell"] and "Gene001" not in matrix.index
    assert "2 groups (B cell, T cell)" in compare.stdout
    bad = _cli("train", "--data", tmp_path, "--out", tmp_path / "bad", "--epochs", 1, "--quiet", "--layer", "counts",
               "--groups", "batch")
    assert bad.returncode != 0 and "'batch' holds one value ('one') for every cell" in bad.stderr
    clash = _cli("train", "--data", tmp_path, "--out", tmp_path / "bad", "--groups", "cell_type", "--group-column",
                 "guide")
    assert clash.returncode != 0 and "give --groups alone" in clash.stderr


def test_screen_ranks_every_regulator_and_writes_the_pairs_beside(trained):
    root, data, run, _ = trained
    targets = [g for g in pd.read_csv(data / "expression.csv", index_col=0).index
               if g not in set((data / "tfs.txt").read_text().split())][:3]
    out = root / "hits.csv"
    result = _cli("screen", "--run", run, "--targets", ",".join(targets), "--direction", "down", "--pairs", 3,
                  "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    hits = pd.read_csv(out, keep_default_na=False)
    assert list(hits.columns[:5]) == ["rank", "regulator", "measured", "score", "targets_moved"]
    assert hits["rank"].tolist() == list(range(1, len(hits) + 1)) and hits["score"].is_monotonic_decreasing
    assert not set(targets) & set(hits["regulator"]) and "would lower" in result.stderr
    pairs = pd.read_csv(root / "hits-pairs.csv")
    assert len(pairs) == 3 and {"pair", "score", "additive", "synergy"} <= set(pairs.columns)
    gene_set = root / "targets.gmt"
    gene_set.write_text(f"MY_SET\tNA\t{targets[0]}\t{targets[1]}\n")
    again = _cli("screen", "--run", run, "--targets-file", gene_set, "--pairs", 0, "--out", root / "set.csv",
                 "--quiet")
    assert again.returncode == 0, again.stderr
    assert not (root / "set-pairs.csv").exists()
    bad = _cli("screen", "--run", run, "--targets", f"{targets[0]},NOT_A_GENE", "--out", root / "bad.csv")
    assert bad.returncode == 2 and "'NOT_A_GENE'" in bad.stderr and "Traceback" not in bad.stderr
    assert not (root / "bad.csv").exists()


def test_state_screen_from_one_sample_group_to_another(trained, tmp_path):
    import shutil

    _, _, run, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    from mtlgrn_core.runs.run_folder import load_run

    names = list(load_run(copy).samples)
    state = ["healthy" if k % 2 else "disease" for k in range(len(names))]
    pd.DataFrame({"condition": state}, index=pd.Index(names, name="sample")).to_csv(copy / "sample_info.csv")
    out = tmp_path / "state.csv"
    result = _cli("screen", "--run", copy, "--from", "condition=disease", "--to", "condition=healthy", "--genes", 30,
                  "--pairs", 2, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    hits = pd.read_csv(out, keep_default_na=False)
    assert {"rank", "regulator", "score", "pearson"} <= set(hits.columns) and hits["score"].between(-1, 1).all()
    half = _cli("screen", "--run", copy, "--from", "condition=disease", "--out", out)
    assert half.returncode == 2 and "needs both --from and --to" in half.stderr
