"""The analytic V30 integration against Monte Carlo, and threshold coherence."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ml.distribution import (
    anchor_probabilities,
    level_forecast,
    mixture_level,
    pool_weights,
    qlike_weights,
    regime_probabilities,
    residual_table,
    v30_cdf,
)
from ml.labels import ANNUALIZATION, V30_WINDOW

RESID = np.random.default_rng(1).standard_t(5, 400) * 0.6


def _monte_carlo_v30(
    k1: float, k2: float, h: int, mu: float, n: int = 40_000
) -> np.ndarray:
    """V30(t+h) by brute force: S from the kernel-smoothed residuals, Gaussian directions."""
    rng = np.random.default_rng(2)
    e = np.sort(RESID)
    iqr = np.subtract(*np.quantile(e, [0.75, 0.25]))
    bw = 0.9 * min(e.std(), iqr / 1.34) * len(e) ** (-0.2)
    draw = rng.choice(e, n) + bw * rng.standard_normal(n)
    s = h / ANNUALIZATION * np.exp(mu + draw)
    z = rng.standard_normal((n, h))
    future = z / np.linalg.norm(z, axis=1, keepdims=True) * np.sqrt(s)[:, None]
    s1, s2 = k1 + future.sum(axis=1), k2 + (future**2).sum(axis=1)
    return np.sqrt((s2 - s1**2 / V30_WINDOW) / (V30_WINDOW - 1) * ANNUALIZATION)


@pytest.mark.parametrize(
    ("h", "k1", "k2"),
    [
        (1, 0.25, 0.02),
        (1, -0.3, 0.05),
        (7, 0.1, 0.01),
        (14, -0.2, 0.008),
        (30, 0.0, 0.0),
    ],
    ids=["h1-uptrend", "h1-downtrend", "h7", "h14", "h30-nothing-known"],
)
@pytest.mark.parametrize("c", [0.40, 0.65])
def test_v30_cdf_matches_monte_carlo(h: int, k1: float, k2: float, c: float) -> None:
    mu = np.log(0.5**2)  # 50% annualised volatility
    mc = float(np.mean(_monte_carlo_v30(k1, k2, h, mu) <= c))
    analytic = v30_cdf(c, np.array([k1]), np.array([k2]), h, np.array([mu]), RESID)[0]
    assert analytic == pytest.approx(mc, abs=0.025)


def test_probabilities_sum_to_one_and_move_with_thresholds() -> None:
    rng = np.random.default_rng(3)
    n = 50
    k1, k2 = rng.normal(0, 0.1, n), rng.uniform(0.002, 0.03, n)
    mu = rng.normal(np.log(0.3), 0.5, n)
    lows = np.linspace(0.2, 0.6, 9)
    probs = [regime_probabilities(k1, k2, 10, mu, RESID, (lo, lo + 0.3)) for lo in lows]
    for p in probs:
        assert_allclose(p.sum(axis=1), 1.0)
        assert (p > 0).all()
    low = np.stack([p[:, 0] for p in probs])
    high = np.stack([p[:, 2] for p in probs])
    assert (np.diff(low, axis=0) >= -1e-12).all()
    assert (np.diff(high, axis=0) <= 1e-12).all()


def test_threshold_outside_known_floor_gives_zero_low() -> None:
    # 29 known returns of 10% each: V30 >= sqrt(29 * 0.01 * 365 / 29) > 1.9 whatever comes
    p = regime_probabilities(
        np.array([0.0]), np.array([0.29]), 1, np.array([0.0]), RESID, (0.4, 0.65)
    )
    assert p[0, 2] > 0.99


def test_regime_probabilities_reject_bad_thresholds() -> None:
    with pytest.raises(Exception, match="0 < low < high"):
        regime_probabilities(
            np.zeros(1), np.zeros(1), 5, np.zeros(1), RESID, (0.7, 0.4)
        )


def test_level_forecast_moments() -> None:
    mu = np.array([np.log(0.25)])
    out = level_forecast(mu, RESID)[0]
    assert out[0] == pytest.approx(0.5 * np.mean(np.exp(RESID / 2)))
    assert out[3] == pytest.approx(0.25 * np.mean(np.exp(RESID)))
    assert out[1] < out[0] < out[2]
    assert np.mean(
        (0.5 * np.exp(RESID / 2) >= out[1]) & (0.5 * np.exp(RESID / 2) <= out[2])
    ) == pytest.approx(0.8, abs=0.01)


def test_residual_table_is_a_cdf() -> None:
    grid, cdf = residual_table(RESID)
    assert cdf[0] < 1e-3 and cdf[-1] > 1 - 1e-3
    assert (np.diff(cdf) >= 0).all() and (np.diff(grid) > 0).all()


# The pool: weights and the mixture level, against hand-computed values.

# Member 1 gave the realised class probability 1 on rows 1-2 and 0 on row 3;
# member 2 the reverse.
P_TRUE = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize(
    ("prior", "row_weight", "expected"),
    [
        (1e-9, None, 2 / 3),  # argmax of 2 log w + log(1 - w)
        (1.0, None, 3 / 5),  # (2 + 1) / (3 + 2)
        (1.0, np.array([1.0, 1.0, 2.0]), 1 / 2),  # (2 + 1) / (4 + 2)
    ],
    ids=["no-prior", "prior-1", "row-weights"],
)
def test_pool_weights_hand_values(prior: float, row_weight, expected: float) -> None:  # type: ignore[no-untyped-def]
    w = pool_weights(P_TRUE, prior, row_weight=row_weight)
    assert_allclose(w, [expected, 1 - expected], atol=1e-6)


def test_pool_weights_without_history_are_equal() -> None:
    assert_allclose(pool_weights(np.empty((0, 4))), np.full(4, 0.25))


def test_qlike_weights_hand_values() -> None:
    """Members x/2 and 2x: (w/2 + 2(1 - w)) x = x at w = 2/3, QLIKE's minimum."""
    x = np.random.default_rng(3).lognormal(0.0, 0.5, 500)
    w = qlike_weights(x, np.column_stack([x / 2, 2 * x]))
    assert_allclose(w, [2 / 3, 1 / 3], atol=1e-3)
    assert_allclose(qlike_weights(x[:0], np.empty((0, 3))), np.full(3, 1 / 3))


def test_mixture_level_of_one_member_is_that_member() -> None:
    mu = np.log(np.array([0.2, 0.5]))
    other = np.log(np.array([2.0, 3.0]))
    alone = level_forecast(mu, RESID)
    mixed = mixture_level([mu, other], [RESID, RESID * 2], np.array([1.0, 0.0]))
    assert_allclose(mixed[:, 0], alone[:, 0])
    assert_allclose(mixed[:, 3], alone[:, 3])
    q = np.quantile(RESID, [0.1, 0.9], method="hazen")
    assert_allclose(mixed[:, 1:3], np.exp((mu[:, None] + q[None, :]) / 2))


def test_mixture_level_quantiles_lie_between_the_members() -> None:
    lo, hi = np.log(np.array([0.1])), np.log(np.array([1.0]))
    mixed = mixture_level([lo, hi], [RESID, RESID], np.array([0.5, 0.5]))
    a, b = level_forecast(lo, RESID), level_forecast(hi, RESID)
    assert a[0, 1] <= mixed[0, 1] <= b[0, 1]
    assert a[0, 2] <= mixed[0, 2] <= b[0, 2]
    assert mixed[0, 0] == pytest.approx((a[0, 0] + b[0, 0]) / 2)


def test_anchor_probabilities_hand_values() -> None:
    """g through (0,0), (0.1,0.2), (0.7,0.7), (1,1): g(0.05) = 0.1, g(0.85) = 0.85."""
    anchor = np.array([[0.2, 0.5, 0.3]])
    at_anchor = np.array([[0.1, 0.6, 0.3]])
    requested = np.array([[0.05, 0.8, 0.15]])
    assert_allclose(
        anchor_probabilities(anchor, at_anchor, requested), [[0.1, 0.75, 0.15]]
    )
    # at the trained thresholds the answer is the anchor itself
    assert_allclose(anchor_probabilities(anchor, at_anchor, at_anchor), anchor)


def test_anchored_probabilities_are_coherent_and_continuous() -> None:
    """Sweep the low cut point through the trained one: P(low) rises, no jump."""
    resid = RESID
    k1, k2, mu = np.array([0.05]), np.array([0.02]), np.array([np.log(0.45**2)])
    anchor = np.array([[0.5, 0.4, 0.1]])
    at_anchor = regime_probabilities(k1, k2, 10, mu, resid, (0.40, 0.65))
    lows = np.linspace(0.30, 0.50, 41)  # includes 0.40
    p_low = np.array([
        anchor_probabilities(anchor, at_anchor,
                             regime_probabilities(k1, k2, 10, mu, resid, (lo, 0.65)))[0, 0]
        for lo in lows
    ])  # fmt: skip
    assert (np.diff(p_low) >= -1e-12).all()
    assert np.abs(np.diff(p_low)).max() < 0.05
    assert p_low[np.argmin(np.abs(lows - 0.40))] == pytest.approx(0.5)
