"""Features at t depend only on candles up to t; model behaviour is sane."""

import numpy as np
import pandas as pd
import pytest

from ml.data import bundled_path, read_candles
from ml.distribution import regime_probabilities
from ml.features import (
    FEATURE_NAMES,
    MIN_HISTORY,
    PRIOR_FEATURES,
    prior_residual_sample,
)
from ml.inference import inference_matrix
from ml.panel import build_panel
from ml.vol_baselines import known_window_sums

THR = (0.40, 0.65)


@pytest.fixture(scope="module")
def candles():
    daily = read_candles(bundled_path("1d")).iloc[:400].reset_index(drop=True)
    h4 = read_candles(bundled_path("4h"))
    h4 = h4[
        h4["open_time"] < daily["open_time"].iloc[-1] + pd.Timedelta(days=1)
    ].reset_index(drop=True)
    return daily, h4


@pytest.mark.parametrize("t", [MIN_HISTORY - 1, 200, 398])
def test_changing_rows_after_t_leaves_features_at_t_unchanged(candles, t):
    daily, h4 = candles
    base = build_panel(daily, h4, THR)
    cut = daily["open_time"].iloc[t] + pd.Timedelta(days=1)
    d2, h2 = daily.copy(), h4.copy()
    later_d, later_h = d2["open_time"] >= cut, h2["open_time"] >= cut
    rng = np.random.default_rng(0)
    for frame, later in ((d2, later_d), (h2, later_h)):
        scale = rng.uniform(0.5, 2.0, size=int(later.sum()))
        for col in ("open", "high", "low", "close", "volume"):
            frame.loc[later, col] = frame.loc[later, col] * scale
    perturbed = build_panel(d2, h2, THR)
    np.testing.assert_array_equal(base.x[: t + 1], perturbed.x[: t + 1])
    # and the serving path agrees with the training panel at t
    x = inference_matrix(d2, h2, daily["open_time"].iloc[t], list(range(1, 31)))
    np.testing.assert_allclose(x, base.x[t], rtol=1e-10)


def test_dropping_rows_after_t_gives_the_same_features(candles):
    daily, h4 = candles
    full = build_panel(daily, h4, THR)
    short = build_panel(
        daily.iloc[:300], h4[h4["open_time"] < daily["open_time"].iloc[300]], THR
    )
    np.testing.assert_array_equal(full.x[:300], short.x)


def test_features_are_invariant_to_price_scale(candles):
    daily, h4 = candles
    scaled_d, scaled_h = daily.copy(), h4.copy()
    for frame in (scaled_d, scaled_h):
        frame[["open", "high", "low", "close"]] *= 1000.0
    a, b = build_panel(daily, h4, THR), build_panel(scaled_d, scaled_h, THR)
    np.testing.assert_allclose(
        a.x[MIN_HISTORY:], b.x[MIN_HISTORY:], rtol=1e-9, atol=1e-12
    )


def test_complete_rows_after_warm_up(candles):
    daily, h4 = candles
    p = build_panel(daily, h4, THR)
    assert p.x.shape == (400, 30, len(FEATURE_NAMES))
    assert np.isfinite(p.x[p.first_usable :]).all()
    assert not np.isfinite(p.x[p.first_usable - 1]).all()


def test_known_share_and_horizon_columns(candles):
    daily, h4 = candles
    p = build_panel(daily, h4, THR)
    h_col, share_col = (
        FEATURE_NAMES.index("horizon"),
        FEATURE_NAMES.index("known_share"),
    )
    assert p.x[200, :, h_col].tolist() == list(range(1, 31))
    np.testing.assert_allclose(p.x[200, :, share_col], (30 - np.arange(1, 31)) / 30)


def test_prior_features_are_probabilities_after_warm_up(candles):
    daily, h4 = candles
    p = build_panel(daily, h4, THR)
    cols = [FEATURE_NAMES.index(n) for n in PRIOR_FEATURES]
    x = p.x[p.first_usable :][:, :, cols]
    assert np.isfinite(x).all()
    probs = x[..., 1:]
    assert ((probs >= 0) & (probs <= 1)).all()
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-12)


def test_prior_features_follow_the_thresholds(candles):
    daily, h4 = candles
    a, b = build_panel(daily, h4, THR), build_panel(daily, h4, (0.50, 0.80))
    lo, hi = FEATURE_NAMES.index("prior_p_low"), FEATURE_NAMES.index("prior_p_high")
    assert (b.x[200:, :, lo] >= a.x[200:, :, lo] - 1e-12).all()
    assert (b.x[200:, :, hi] <= a.x[200:, :, hi] + 1e-12).all()
    other = [i for i, n in enumerate(FEATURE_NAMES) if not n.startswith("prior_p_")]
    np.testing.assert_array_equal(a.x[:, :, other], b.x[:, :, other])
    # serving with the same thresholds reproduces the panel row
    x = inference_matrix(
        daily, h4, daily["open_time"].iloc[300], list(range(1, 31)), (0.50, 0.80)
    )
    np.testing.assert_allclose(x, b.x[300], rtol=1e-10)
    # the features equal regime_probabilities on the known-window sums
    k1, k2 = known_window_sums(a.returns, np.array([300]), 30)
    mu = np.log((0.1 * a.features["rv_4h_1d"] ** 2 + 0.3 * a.features["rv_4h_7d"] ** 2
                 + 0.6 * a.features["rv_4h_30d"] ** 2).iloc[300])  # fmt: skip
    for h in (1, 7, 30):
        want = regime_probabilities(k1[:, h - 1], k2[:, h - 1], h, np.array([mu]),
                                    prior_residual_sample(h), THR)  # fmt: skip
        np.testing.assert_allclose(
            a.x[300, h - 1, lo : hi + 1], want[0], rtol=1e-8, atol=1e-10
        )


def test_4h_rv_leaves_out_returns_across_missing_candles():
    """Hand-computed: a return across missing candles is not a 4-hour return."""
    import pandas as pd

    from ml.features import daily_rv_from_intraday

    t = pd.date_range("2024-01-01", periods=12, freq="4h")
    close = np.exp(np.array([0.0, 0.01, 0.03, 0.02, 0.02, 0.05,  # day 1
                             0.04, 0.06, 0.0, 0.01, 0.03, 0.03]))  # fmt: skip
    frame = pd.DataFrame({"open_time": t, "close": close})
    full = daily_rv_from_intraday(frame)
    day1 = np.array([0.01, 0.02, -0.01, 0.0, 0.03]) ** 2  # first return has no prior
    day2 = np.array([-0.01, 0.02, -0.06, 0.01, 0.02, 0.0]) ** 2
    np.testing.assert_allclose(full.to_numpy(), [6 / 5 * day1.sum(), day2.sum()])
    # drop day 2's 04:00..12:00 candles: its 16:00 return spans 16 hours and is left
    # out, leaving 00:00 and 20:00 (2 returns, scaled by 6/2)
    gappy = daily_rv_from_intraday(frame.drop(index=[7, 8, 9]).reset_index(drop=True))
    want2 = 6 / 2 * (0.01**2 + 0.0**2)
    np.testing.assert_allclose(gappy.to_numpy(), [6 / 5 * day1.sum(), want2])
    # one candle a month later contributes nothing (NaN day: daily r^2 is used)
    far = pd.concat([frame, pd.DataFrame({"open_time": [pd.Timestamp("2024-02-01")],
                                          "close": [5.0]})], ignore_index=True)  # fmt: skip
    assert np.isnan(daily_rv_from_intraday(far).iloc[-1])
