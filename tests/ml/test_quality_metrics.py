"""Level and probability metrics pinned against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ml.evaluation import brier_score, log_loss
from ml.scoring import (
    block_bootstrap_ci,
    interval_coverage,
    qlike,
    qlike_terms,
    realized_variance_forward,
)


def test_qlike_hand_values() -> None:
    # x/f - ln(x/f) - 1: (2 - ln 2 - 1), (0.5 - ln 0.5 - 1), 0
    x, f = np.array([2.0, 1.0, 3.0]), np.array([1.0, 2.0, 3.0])
    expected = [1 - np.log(2.0), -0.5 + np.log(2.0), 0.0]
    assert_allclose(qlike_terms(x, f), expected, atol=1e-12)
    assert qlike(x, f) == pytest.approx(np.mean(expected))


def test_qlike_is_minimised_by_the_mean() -> None:
    x = np.array([1.0, 2.0, 3.0, 6.0])
    grid = np.linspace(1.0, 6.0, 501)
    best = grid[np.argmin([qlike(x, np.full(4, g)) for g in grid])]
    assert best == pytest.approx(x.mean(), abs=0.01)


def test_interval_coverage_counts_closed_bounds() -> None:
    x = np.array([0.1, 0.5, 0.9, 1.2])
    assert interval_coverage(x, np.full(4, 0.1), np.full(4, 0.9)) == 0.75


def test_brier_and_log_loss_hand_values() -> None:
    y = np.array([0, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
    # (0.09 + 0.04 + 0.01) and (0.04 + 0.09 + 0.25)
    assert brier_score(y, p) == pytest.approx((0.14 + 0.38) / 2)
    assert log_loss(y, p) == pytest.approx(-(np.log(0.7) + np.log(0.5)) / 2)


def test_realized_variance_forward_hand_values() -> None:
    r = np.array([np.nan, 0.01, -0.02, 0.03])
    rv = realized_variance_forward(r, 2)
    assert_allclose(rv[0], [365 * 1e-4, 365 * (1e-4 + 4e-4) / 2])
    assert_allclose(rv[1], [365 * 4e-4, 365 * (4e-4 + 9e-4) / 2])
    assert np.isnan(rv[2, 1]) and np.isnan(rv[3]).all()


def test_block_bootstrap_is_deterministic_and_brackets_the_mean() -> None:
    x = np.random.default_rng(0).normal(1.0, 1.0, 600)
    ci = block_bootstrap_ci(lambda i: float(x[i].mean()), len(x), block=30, n_boot=300)
    assert ci == block_bootstrap_ci(
        lambda i: float(x[i].mean()), len(x), block=30, n_boot=300
    )
    assert ci[0] < x.mean() < ci[1]
    assert ci[1] - ci[0] == pytest.approx(2 * 1.645 / np.sqrt(600), rel=0.35)
