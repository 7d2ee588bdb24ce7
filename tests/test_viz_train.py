"""The training-history figure keeps every validation value on its axis."""

from __future__ import annotations

import pytest

from mtlgrn_core.viz.train import LOWEST_R2_SHOWN, history_figure


def _history(r2_values):
    return [{"epoch": e, "loss_edge": 1.0 / (e + 1), "val_auroc": 0.8, "val_auprc": 0.5, "val_knockout_r2": r2}
            for e, r2 in enumerate(r2_values)]


def _validation_range(fig):
    return fig.layout.yaxis2.range


def test_validation_axis_shows_a_negative_knockout_r2():
    low, high = _validation_range(history_figure(_history([-0.4, 0.1, 0.5])))
    assert low <= -0.4 and high >= 1.0


def test_validation_axis_starts_at_zero_when_everything_is_positive():
    low, _ = _validation_range(history_figure(_history([0.2, 0.6])))
    assert low == pytest.approx(-0.02)


def test_validation_axis_stops_at_the_lowest_r2_shown():
    low, _ = _validation_range(history_figure(_history([-50.0, 0.3])))
    assert low == pytest.approx(LOWEST_R2_SHOWN - 0.02)


def test_history_without_knockout_validation():
    history = [{"epoch": 0, "loss_edge": 1.0, "val_auroc": 0.7, "val_auprc": 0.3}]
    low, _ = _validation_range(history_figure(history))
    assert low == pytest.approx(-0.02)
