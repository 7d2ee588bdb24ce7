"""In-silico screens (issue 28): scoring by hand, one batched screen against one query at a time, measured knockouts
found again by their responders, pairs beside their additive expectation, ensembles, bad input, Stop."""

from __future__ import annotations

import copy
import itertools
import threading

import numpy as np
import pandas as pd
import pytest

from mtlgrn_core.answers import screens
from mtlgrn_core.answers.infer import predict_knockout
from mtlgrn_core.answers.screen_scores import MOVED, match_scores, ranks, read_gene_set, target_scores
from mtlgrn_core.errors import DataValidationError
from mtlgrn_core.evaluation.knockout_evaluation import measured_knockouts
from mtlgrn_core.model.config import TrainConfig
from mtlgrn_core.model.train import fit
from mtlgrn_core.progress import TaskStopped


@pytest.fixture(scope="module")
def grouped(run, dataset):
    """The shared run with a sample column: control (wild type), A and B (halves of the multifactorial samples),
    one (a single knockout sample)."""
    labels = []
    mf = [s for s in dataset.samples if s.startswith("mf_")]
    for s in dataset.samples:
        if s.startswith("wt_"):
            labels.append("control")
        elif s in mf:
            labels.append("A" if mf.index(s) < len(mf) // 2 else "B")
        else:
            labels.append("one" if s == dataset.samples[-1] else "other")
    copied = copy.copy(run)
    copied.sample_info = pd.DataFrame({"state": labels, "flat": "same"}, index=pd.Index(dataset.samples))
    return copied


def test_scores_and_ranks_by_hand():
    changes = np.array([[-1.0, -0.05, 2.0], [0.5, 0.5, 0.0]])
    score, moved = target_scores(changes, np.array([0, 1]), "down")
    assert score == pytest.approx([0.525, -0.5]) and moved.tolist() == [1, 0]  # -0.05 moves less than MOVED
    assert target_scores(changes, np.array([2]), "up")[0] == pytest.approx([2.0, 0.0])
    wanted = np.array([1.0, 2.0, -1.0])
    cosine, pearson = match_scores(changes, wanted, own=np.array([2, -1]))
    kept = changes[0, :2], wanted[:2]  # row 0 leaves out its own gene (position 2)
    assert cosine[0] == pytest.approx(kept[0] @ kept[1] / np.linalg.norm(kept[0]) / np.linalg.norm(kept[1]))
    assert pearson[0] == pytest.approx(np.corrcoef(*kept)[0, 1])
    assert pearson[1] == pytest.approx(np.corrcoef(changes[1], wanted)[0, 1])
    assert ranks(np.array([0.2, 0.5, 0.2]), ["b", "c", "a"]).tolist() == [3, 1, 2]  # a tie goes by name


def test_the_batched_screen_scores_what_one_query_at_a_time_predicts(run):
    targets = [g for g in run.genes if g not in run.tfs][:3]
    screen = screens.target_screen(run, targets, "down", pairs=0)
    hits = screen.hits.set_index("regulator")
    assert screen.hits["rank"].tolist() == list(range(1, len(hits) + 1))
    assert not set(targets) & set(hits.index) and set(hits.index) == set(run.tfs)
    assert (np.diff(screen.hits["score"].to_numpy()) <= 1e-12).all()  # best first
    scale = pd.Series(run.inputs.scale.astype(np.float64), index=run.genes)
    for regulator in list(hits.index[:2]) + [hits.index[-1]]:
        table = predict_knockout(run, regulator).set_index("gene")
        change = table.loc[targets, "delta"] / scale[targets]
        assert hits.at[regulator, "score"] == pytest.approx(-change.mean(), rel=1e-4, abs=1e-6)
        assert hits.at[regulator, "targets_moved"] == int((-change >= MOVED).sum())
    assert screen.hits["path"].iloc[0].startswith(screen.hits["regulator"].iloc[0])


def test_a_measured_knockout_is_found_again_by_its_responders(dataset, run):
    """Each measured regulator's five most lowered genes as targets: the screen ranks it better than chance; its
    whole measured profile as the wanted change: first."""
    kos, baseline = measured_knockouts(dataset), dataset.baseline()
    target_ranks, chance = [], []
    for gene, columns in kos.items():
        name = dataset.genes[gene]
        if name not in run.tfs:
            continue
        measured = dataset.expression[:, columns].mean(axis=1) - baseline
        measured[gene] = 0.0
        responders = [dataset.genes[i] for i in np.argsort(measured)[:5]]
        hits = screens.target_screen(run, responders, "down", pairs=0).hits.set_index("regulator")
        target_ranks.append(hits.at[name, "rank"])
        chance.append((len(hits) + 1) / 2)
        state = screens.change_screen(run, measured / run.inputs.scale, pairs=0).hits.set_index("regulator")
        assert state.at[name, "rank"] == 1
    assert len(target_ranks) >= 4 and np.mean(target_ranks) < np.mean(chance)


def test_pairs_stand_beside_the_sum_of_their_singles(run):
    targets = [g for g in run.genes if g not in run.tfs][:4]
    screen = screens.target_screen(run, targets, "up", pairs=3)
    best = screen.hits["regulator"].head(3).tolist()
    assert sorted(screen.pairs["pair"]) == sorted("+".join(p) for p in itertools.combinations(best, 2))
    single = screen.hits.set_index("regulator")["score"]
    for _, row in screen.pairs.iterrows():
        a, b = row["pair"].split("+")
        assert row["additive"] == pytest.approx(single[a] + single[b], rel=1e-6, abs=1e-9)  # a mean is additive
        assert row["synergy"] == pytest.approx(row["score"] - row["additive"])
    assert (np.diff(screen.pairs["synergy"].to_numpy()) <= 1e-12).all()


def test_a_state_screen_ranks_by_the_match_with_the_groups_difference(grouped):
    screen = screens.state_screen(grouped, "state=A", "B", pairs=0, n_genes=15)
    x = grouped.inputs.expression.astype(np.float64)
    info = grouped.sample_info["state"].to_numpy()
    wanted = x[:, info == "B"].mean(axis=1) - x[:, info == "A"].mean(axis=1)
    direct = screens.change_screen(grouped, wanted, pairs=0, n_genes=15, context="state=A")
    pd.testing.assert_frame_equal(screen.hits, direct.hits)
    assert len(screen.genes) == 15 and set(screen.genes) == {grouped.genes[i] for i in np.argsort(-abs(wanted))[:15]}
    assert screen.hits["score"].between(-1, 1).all() and "pearson" in screen.hits
    assert "state=A" in screen.question and "B" in screen.question
    regulator = screen.hits["regulator"].iloc[-1]  # its own predicted change is what a screen for it wants
    own = screens.change_screen(grouped, _standard_change(grouped, regulator), pairs=0).hits
    assert own["regulator"].iloc[0] == regulator and own["score"].iloc[0] == pytest.approx(1.0, abs=1e-6)


def _standard_change(run, regulator: str) -> np.ndarray:
    table = predict_knockout(run, regulator).set_index("gene").loc[list(run.genes)]
    return table["delta"].to_numpy() / run.inputs.scale.astype(np.float64)


def test_an_ensemble_ranks_by_the_members_mean_and_says_how_stable_each_hit_is(dataset, run):
    other = fit(dataset, TrainConfig(epochs=5, patience=5, hidden=16, heads=2, seed=1))
    targets = [g for g in run.genes if g not in run.tfs][:3]
    screen = screens.target_screen([run, other], targets, "down", pairs=2)
    alone = [screens.target_screen(m, targets, "down", pairs=0).hits.set_index("regulator") for m in (run, other)]
    hits = screen.hits.set_index("regulator")
    for regulator in hits.index:
        scores = [a.at[regulator, "score"] for a in alone]
        assert hits.at[regulator, "score"] == pytest.approx(np.mean(scores))
        each = sorted(a.at[regulator, "rank"] for a in alone)
        assert (hits.at[regulator, "rank_low"], hits.at[regulator, "rank_high"]) == tuple(each)
        assert hits.at[regulator, "stable"] == pytest.approx(np.mean([r <= screens.STABLE_TOP for r in each]))
    assert len(screen.pairs) == 1


def test_bad_input_is_named(run, grouped):
    with pytest.raises(DataValidationError, match=r"'NOPE'.*not among this run's"):
        screens.target_screen(run, ["NOPE", run.genes[0]])
    with pytest.raises(DataValidationError, match=r"did you mean '" + run.genes[3] + "'"):
        screens.target_screen(run, run.genes[3].lower())
    with pytest.raises(DataValidationError, match="dose 1 leaves every gene"):
        screens.target_screen(run, run.genes[:1], dose=1.0)
    with pytest.raises(DataValidationError, match="dose 3 is outside"):
        screens.target_screen(run, run.genes[:1], dose=3.0)
    with pytest.raises(DataValidationError, match="neither 'down' nor 'up'"):
        screens.target_screen(run, run.genes[:1], direction="sideways")
    with pytest.raises(DataValidationError, match="every regulator of the run is a target"):
        screens.target_screen(run, list(run.tfs))
    with pytest.raises(DataValidationError, match=r"group 'state=one' has 1 sample; a group needs at least 3"):
        screens.state_screen(grouped, "state=one", "state=A")
    with pytest.raises(DataValidationError, match="are the same samples"):
        screens.state_screen(grouped, "state=A", "A")
    with pytest.raises(DataValidationError, match="no sample information"):
        screens.state_screen(run, "state=A", "state=B")
    with pytest.raises(DataValidationError, match=r"column 'flat' has 1 value \(same\)"):
        screens.group_choices(grouped, "flat")
    assert screens.group_choices(grouped, "state") == ["state=A", "state=B", "state=control", "state=other"]


def test_progress_reaches_its_end_and_stop_ends_the_screen(run):
    steps = []
    screens.target_screen(run, run.genes[-2:], pairs=2, progress=lambda done, total, message: steps.append(
        (done, total, message)))
    assert [s[0] for s in steps] == sorted(s[0] for s in steps) and steps[-1][:2] == (steps[-1][1], steps[-1][1])
    stop = threading.Event()
    stop.set()
    with pytest.raises(TaskStopped):
        screens.target_screen(run, run.genes[-2:], stop=stop)


def test_a_gene_set_file_reads_as_labs_write_them():
    assert read_gene_set("# my genes\nA, B\nC\tD\n\nB\n") == ["A", "B", "C", "D"]
    assert read_gene_set("HALLMARK_X\thttp://example.org\tA\tB\nSET_2\tNA\tC\n") == ["A", "B", "C"]


def test_a_group_that_matches_no_sample_is_called_a_group(grouped):
    with pytest.raises(DataValidationError, match=r"group 'state=NK' holds no sample: column 'state' has the values"):
        screens.state_screen(grouped, "state=A", "state=NK")


def test_a_run_without_regulators_says_so(run):
    bare = copy.copy(run)
    bare.tfs = ()
    bare.outside_prior = run.outside_prior.iloc[:0]
    with pytest.raises(DataValidationError, match="no regulator to screen"):
        screens.target_screen(bare, run.genes[:1])
