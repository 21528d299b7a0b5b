"""Metrics against scikit-learn; walk-forward never trains on unknown labels."""

import re

import numpy as np
import pytest
from sklearn import metrics as skm

from ml.data import bundled_path, read_candles
from ml.evaluation import (
    balanced_accuracy,
    brier_score,
    log_loss,
    macro_f1,
    walk_forward,
)
from ml.panel import build_panel


@pytest.fixture(scope="module")
def preds():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 500)
    p = rng.dirichlet([1, 1, 1], 500)
    return y, p


def test_metrics_match_sklearn(preds):
    y, p = preds
    pred = p.argmax(axis=1)
    assert macro_f1(y, pred) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert balanced_accuracy(y, pred) == pytest.approx(
        skm.balanced_accuracy_score(y, pred)
    )
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2]))


def test_hand_computed_values():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.5, 0.25, 0.25]])
    assert log_loss(y, p) == pytest.approx(
        -(np.log(0.8) + np.log(0.5) + np.log(0.8) + np.log(0.25)) / 4
    )
    brier = ((0.2**2 + 0.1**2 + 0.1**2) + (0.2**2 + 0.5**2 + 0.3**2) + (0.1**2 + 0.1**2 + 0.2**2)
             + (0.5**2 + 0.25**2 + 0.75**2)) / 4  # fmt: skip
    assert brier_score(y, p) == pytest.approx(brier)
    # predictions 0,1,2,0: class F1 = 2/3, 1, 2/3 -> macro 7/9
    assert macro_f1(y, p.argmax(axis=1)) == pytest.approx(7 / 9)


class _Spy:
    """Records what each fit could see; predicts climatology."""

    name = "spy"
    seen: list[tuple[int, int]] = []

    def fit(self, panel, cutoff):
        mask = panel.label_known(cutoff)
        i, h = np.nonzero(mask)
        _Spy.seen.append((cutoff, int((i + h + 1).max())))
        self.p = np.bincount(panel.labels[mask], minlength=3) / mask.sum()

    def predict_proba(self, panel, origins):
        return np.broadcast_to(self.p, (len(origins), 30, 3)).copy()


def test_walk_forward_uses_only_labels_known_at_refit():
    daily = read_candles(bundled_path("1d")).iloc[:700]
    panel = build_panel(daily, None, (0.4, 0.65))
    _Spy.seen = []
    res = walk_forward(panel, _Spy, "2019-06-01", refit_every=30)
    assert len(_Spy.seen) == len(range(panel.day_index("2019-06-01"), 700, 30))
    for cutoff, latest_target in _Spy.seen:
        assert latest_target <= cutoff
    assert res.proba.shape == (700 - panel.day_index("2019-06-01"), 30, 3)
    unknown = res.labels[-1]
    assert (unknown == -1).all()


@pytest.mark.parametrize(
    ("first", "rule"),
    [
        ("2030-01-01", "expected 2019-12-01 (the data's last day) or earlier"),
        ("01/06/2019", "expected a date YYYY-MM-DD"),
        (  # was "labels: got [], expected all three regimes ... (train_start/train_end)"
            "2017-01-01",
            "expected 2018-10-05 or later: the first refit needs labels of all three "
            "regimes known by then",
        ),
    ],
)
def test_a_first_origin_outside_the_data_is_named(first, rule):
    """A first origin after the data's end used to be an IndexError deep in the
    evaluate step of the training pipeline."""
    from ml.comparison import run_forecasters
    from ml.errors import DataValidationError

    panel = build_panel(read_candles(bundled_path("1d")).iloc[:700], None, (0.4, 0.65))
    for run in (
        lambda: walk_forward(panel, _Spy, first),
        lambda: run_forecasters(panel, {"spy": _Spy}, first),
    ):
        with pytest.raises(
            DataValidationError, match=re.escape(f"first_origin: got '{first}', {rule}")
        ):
            run()
