"""The pure monitoring core: drift, matured labels, the retrain rule and the gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ml.errors import ConfigError
from ml.monitoring import (
    DriftSummary,
    PerformanceSummary,
    daily_log_losses,
    decide,
    feature_drift,
    gate,
    matured_mask,
    summarize_performance,
    weighted_f1,
)

RNG = np.random.default_rng(0)


def _frame(n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({c: RNG.normal(shift, 1.0, n) for c in ("a", "b", "c", "d")})


def test_shifted_window_drifts_and_same_distribution_does_not():
    ref = _frame(3000)
    assert feature_drift(ref, _frame(400, shift=1.0)).dataset_drift
    same = feature_drift(ref, _frame(400))
    assert not same.dataset_drift and same.share < 0.5


def test_all_nan_and_constant_columns_are_reported_not_fatal():
    ref, cur = _frame(500), _frame(100, shift=2.0)
    ref["const"], cur["const"] = 1.0, 1.0
    cur["empty"], ref["empty"] = np.nan, RNG.normal(size=500)
    d = feature_drift(ref, cur)
    assert set(d.skipped) == {"const", "empty"}
    assert "current 0" in d.skipped["empty"] and "constant" in d.skipped["const"]
    assert d.dataset_drift


@pytest.mark.parametrize("n_current", [0, 5, 29], ids=lambda n: f"{n}-rows")
def test_small_current_window_gives_no_verdict(n_current):
    d = feature_drift(_frame(500), _frame(n_current, shift=3.0), min_rows=30)
    assert not d.enough_data or not d.scores
    assert not d.dataset_drift


def test_wasserstein_score_matches_scipy():
    from scipy.stats import wasserstein_distance

    ref, cur = _frame(800), _frame(200, shift=0.3)
    d = feature_drift(ref, cur)
    expected = wasserstein_distance(ref["a"], cur["a"]) / ref["a"].std(ddof=0)
    assert_allclose(d.scores["a"], expected)


def test_only_matured_labels_are_scored():
    labels = np.zeros((5, 3), dtype="int64")
    labels[4, 2] = -1
    mask = matured_mask(np.arange(10, 15), labels, asof=13)
    # origin 10: h=1..3 -> 11..13 all matured; origin 12: only h=1; origin 13, 14: none
    assert mask.sum(axis=1).tolist() == [3, 2, 1, 0, 0]


def test_daily_log_losses_average_matured_horizons():
    p = np.full((2, 2, 3), 1 / 3)
    p[0, 0] = [0.5, 0.25, 0.25]
    labels = np.zeros((2, 2), dtype="int64")
    mask = np.array([[True, True], [False, False]])
    out = daily_log_losses(p, labels, mask)
    assert_allclose(out[0], (-np.log(0.5) - np.log(1 / 3)) / 2)
    assert np.isnan(out[1])


def test_weighted_f1_against_sklearn():
    from sklearn.metrics import f1_score

    y, pred = RNG.integers(0, 3, 300), RNG.integers(0, 3, 300)
    assert_allclose(weighted_f1(y, pred), f1_score(y, pred, average="weighted"))


def _drift(share: float, n: int = 180) -> DriftSummary:
    return DriftSummary("w", 1000, n, {"a": share}, ("a",) if share >= 0.5 else (), {},
                        share, 0.5, n >= 30)  # fmt: skip


def _perf(skill: float, days: int = 150, f1: float = 0.6) -> PerformanceSummary:
    return PerformanceSummary(days, days * 20, 1.0 - skill, 1.0, f1, f1, f1)


@pytest.mark.parametrize(
    ("drift", "skill", "retrain"),
    [(0.9, 0.3, False), (0.9, -0.05, True), (0.1, -0.05, False), (0.1, -0.5, True)],
    ids=["drift-only", "drift-and-degraded", "degraded-no-drift", "severe"],
)
def test_default_rule_needs_drift_and_degradation(drift, skill, retrain):
    d = decide(_drift(drift), _perf(skill))
    assert d.retrain is retrain
    assert "skill" in d.reason


def test_too_few_matured_days_keep_the_champion():
    d = decide(_drift(0.9), _perf(-0.9, days=10))
    assert not d.retrain and "10 matured label days" in d.reason


def test_seed_rule_fires_on_any_floor():
    assert decide(_drift(0.0), _perf(0.3, f1=0.39), rule="seed").retrain
    assert not decide(_drift(0.0), _perf(0.3, f1=0.5), rule="seed").retrain


def test_unknown_rule_names_the_value_and_allowed_set():
    with pytest.raises(
        ConfigError, match=r"rule: got 'sometimes'.*drift_and_degradation"
    ):
        decide(_drift(0.1), _perf(0.1), rule="sometimes")


def _ar1(n: int, rho: float = 0.9, scale: float = 0.05) -> np.ndarray:
    e = np.empty(n)
    e[0] = 0
    for t in range(1, n):
        e[t] = rho * e[t - 1] + RNG.normal(0, scale)
    return e


@pytest.mark.parametrize("test", ["dm_hac", "block_wilcoxon"])
def test_gate_promotes_a_clearly_better_challenger(test):
    champ = 0.8 + _ar1(91)
    assert gate(champ, champ - 0.15 + _ar1(91, scale=0.01), test=test).promote


@pytest.mark.parametrize("test", ["dm_hac", "block_wilcoxon"])
def test_gate_keeps_champion_against_worse_or_equal(test):
    champ = 0.8 + _ar1(91)
    worse = gate(champ, champ + 0.1 + _ar1(91, scale=0.01), test=test)
    assert not worse.promote and worse.mean_improvement < 0
    assert not gate(champ, champ.copy(), test=test).promote


def test_gate_is_not_fooled_by_overlapping_targets():
    # Loss differences of 30-day-overlapping targets: an MA(29) with zero mean. A naive
    # one-sided t-test on the daily values promotes far more often than alpha.
    from scipy import stats

    rng = np.random.default_rng(11)
    gate_hits = naive_hits = 0
    for _ in range(200):
        d = np.convolve(rng.normal(0, 0.02, 91 + 29), np.ones(30), mode="valid")
        gate_hits += gate(np.zeros(91), -d).promote
        naive_hits += stats.ttest_1samp(d, 0, alternative="greater").pvalue < 0.05
    assert gate_hits <= 20  # <= 10 % at alpha 5 %
    assert naive_hits > 2 * gate_hits


def test_gate_needs_enough_days():
    g = gate(np.ones(10), np.zeros(10))
    assert not g.promote and "only 10 paired days" in g.reason


def test_summarize_performance_skill_against_climatology():
    labels = np.array([[0, 1], [2, 1]])
    p = np.tile(np.array([0.2, 0.6, 0.2]), (2, 2, 1))
    perf = summarize_performance(p, labels, labels >= 0, np.array([1 / 3] * 3))
    assert_allclose(perf.reference_log_loss, np.log(3))
    assert_allclose(perf.log_loss, -(2 * np.log(0.2) + 2 * np.log(0.6)) / 4)
    assert perf.n_days == 2
