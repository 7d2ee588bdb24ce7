"""The screen bench's harness (bench/screen.py): the responders a deletion's screen asks for, ranks with ties, a
target never a candidate of its own screen, and the whole yeast part on a small deletion set."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import screen  # noqa: E402
from common import Clock  # noqa: E402
from yeast_data import DeletionSet  # noqa: E402


def test_the_responders_are_the_genes_that_moved_most_the_way_most_did():
    measured = np.array([-5.0, -3.0, 2.5, -0.1, 4.0, -2.0] + [0.0] * 10)
    targets, direction = screen.responders(measured, own=[0])
    assert direction == "down" and set(targets) == {1, 3, 5}  # 0 is the deleted gene; 2 and 4 went up
    up, way = screen.responders(-measured, own=[0])
    assert way == "up" and set(up) == {1, 3, 5}


def test_ties_share_their_rank_and_a_target_is_never_its_own_candidate():
    assert screen.rank_of(np.array([0.5, 0.2, 0.2, 0.9]), 1) == pytest.approx(3.5)
    changes = np.zeros((3, 12))
    changes[0, :4] = -1.0  # candidate 0 lowers genes 0-3 ...
    changes[1, 4] = -10.0  # ... candidate 1 only its own gene 4, which is a target
    changes[2, 1:3] = -0.5  # part of the wanted change only
    measured = np.zeros(12)
    measured[[1, 2, 3, 4]] = [-2.0, -2.0, -2.0, -3.0]
    target, state = screen.screen_scores(changes, measured, own_of=np.array([-1, 4, 9]), own=[0])
    assert target[1] == -np.inf and target[0] > target[2]  # candidate 1 (gene 4, a target) is left out
    assert state[0] > state[2] and state[1] == 0.0  # candidate 1's own gene does not count in its match
    rows = {r["method"]: r for r in screen.ranks_of_true({"m": (target, state)}, 2, held=np.array([0, 1, 1], bool))}
    assert (rows["m"]["target_rank"], rows["m"]["state_rank"]) == (2.0, 2.0)
    assert (rows["m"]["target_rank_held"], rows["m"]["state_rank_held"]) == (1.0, 1.0)  # candidate 0 not held out
    assert rows[screen.RANDOM]["target_rank"] == 1.5 and rows["m"]["held_candidates"] == 1


def test_the_yeast_part_ranks_every_held_out_deletion_for_every_method():
    genes = ["A", "g1", "g2", "g3", "g4", "g5"]
    prior = pd.DataFrame({"source": ["A", "A", "B", "C", "C"], "target": ["g1", "g2", "g3", "g4", "A"],
                          "sign": [1, -1, 1, 1, -1]})
    rng = np.random.default_rng(0)
    profiles = rng.normal(scale=0.3, size=(6, 6))
    profiles[[1, 2], 1] = [-2.0, 1.5]  # deletion of A (column 1) moves its targets against their signs
    data = DeletionSet("small", genes, profiles, ["X", "A", "B", "C", "A", "E"], prior, np.zeros((6, 1)))
    rows = pd.DataFrame(screen.yeast_rows(data, 5, Clock()))
    assert set(rows["method"]) == {screen.MODEL, screen.LINEAR, screen.DIRECT, screen.RANDOM}
    assert sorted(rows.loc[rows["method"] == screen.MODEL, "deletion"]) == ["A", "A", "B", "C"]
    assert rows[["target_rank", "state_rank"]].ge(1).all().all()
    assert rows["target_rank"].le(rows["target_candidates"]).all() and rows["state_rank"].le(3).all()
    assert rows["target_rank_held"].le(rows["target_rank"]).all() and rows["state_rank_held"].le(rows["state_rank"]).all()
    summary = screen.per_seed(rows)
    assert set(summary.columns) >= {"target_median", "target_top", "state_median", "state_top", "state_median_held"}
    assert "held out with each deletion" in "\n".join(screen.tables(rows))
