"""Features at day t from candles up to and including day t.

Two levels:
    * daily features (one row per day): trailing realised volatilities, range
      estimators, 4-hour realised variance, returns and volume;
    * horizon rows (one row per origin t and horizon h): the daily features plus what
      is already known about V30 on day t+h (the 30-h returns of its window that
      have happened by t), and unfitted "prior" regime probabilities of V30(t+h)
      from those exact known sums and a fixed forecast of the unknown part.

All volatilities are annualised with sqrt(365) and expressed as fractions (0.40 = 40%).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from ml.data import CLOSE, HIGH, LOW, OPEN, OPEN_TIME, VOLUME
from ml.distribution import regime_probabilities, residual_table
from ml.errors import InsufficientHistoryError
from ml.labels import (
    ANNUALIZATION,
    DEFAULT_THRESHOLDS,
    V30_WINDOW,
    check_thresholds,
    log_returns,
)

__all__ = [
    "DAILY_FEATURES",
    "FEATURE_NAMES",
    "HORIZON",
    "MIN_HISTORY",
    "PRIOR_FEATURES",
    "build_daily_features",
    "build_horizon_rows",
    "daily_rv_from_intraday",
    "prior_log_variance",
    "prior_residual_sample",
    "to_daily_index",
]

VOL_WINDOWS = (7, 14, 30, 60, 90)
RANGE_WINDOWS = (7, 30)
RV4H_WINDOWS = (1, 7, 30)
MIN_HISTORY = 91
"""Daily candles needed before the first complete feature row (90 returns)."""
HORIZON = "horizon"
PRIOR_FEATURES: tuple[str, ...] = (
    "prior_log_v30",
    "prior_p_low",
    "prior_p_normal",
    "prior_p_high",
)
"""Unfitted regime prior of V30(t+h) (see :func:`build_horizon_rows`)."""
PRIOR_WEIGHTS: dict[str, float] = {"rv_4h_1d": 0.1, "rv_4h_7d": 0.3, "rv_4h_30d": 0.6}
"""Fixed blend of trailing 4-hour realised variances forecasting future daily variance."""
PRIOR_EXTRA_SD = 0.9
"""Sd of the normal error of the log variance forecast (added to the exact chi-square
sampling noise). Fixed, not fitted: 2018-2020 origins (before any evaluated origin)
show 0.88-0.98 at h = 1, 7, 14, 30 for the blend above, flat in h."""

DAILY_FEATURES: tuple[str, ...] = (
    *(f"rv_cc_{w}d" for w in VOL_WINDOWS),
    *(f"parkinson_{w}d" for w in RANGE_WINDOWS),
    *(f"garman_klass_{w}d" for w in RANGE_WINDOWS),
    *(f"rogers_satchell_{w}d" for w in RANGE_WINDOWS),
    *(f"rv_4h_{w}d" for w in RV4H_WINDOWS),
    "ret_1d",
    "ret_7d",
    "ret_30d",
    "abs_ret_1d",
    "volume_ratio_7_90",
    "v30_change_7d",
)
FEATURE_NAMES: tuple[str, ...] = (
    HORIZON,
    *DAILY_FEATURES,
    "known_share",
    "known_vol",
    "naive_v30_7",
    "naive_v30_30",
    "prior_log_v30",
    "prior_p_low",
    "prior_p_normal",
    "prior_p_high",
)
"""Column order of the model's input matrix (training and serving)."""


def to_daily_index(candles: pd.DataFrame) -> pd.DataFrame:
    """Index a canonical daily frame by calendar day (``DatetimeIndex`` named ``day``)."""
    out = candles.set_index(candles[OPEN_TIME].dt.normalize().rename("day"))
    return out.drop(columns=[OPEN_TIME])


def daily_rv_from_intraday(candles_4h: pd.DataFrame) -> pd.Series:
    """Daily realised variance (not annualised) from 4-hour closes.

    Notes:
        RV_d = (6 / n_d) * sum of squared 4-hour log returns whose candle opens on day
        d, n_d the number of such returns (scaled up when candles are missing). The
        first return of a day spans the previous day's last close to its first close.
        A return across missing candles is not a 4-hour return and is left out: one
        spanning a month of missing candles counted as a single 4-hour return made
        that day's RV, and every window over it, many times too large. A day with no
        4-hour return is NaN (the features fall back to its daily squared return).
    """
    t = candles_4h[OPEN_TIME]
    r = np.diff(np.log(candles_4h[CLOSE].to_numpy(dtype="float64")), prepend=np.nan)
    step = t.diff().to_numpy() == np.timedelta64(4, "h")
    r2 = pd.Series(np.where(step, r**2, np.nan), index=t.dt.normalize())
    grouped = r2.groupby(level=0)
    return (grouped.sum(min_count=1) * 6.0 / grouped.count()).rename("rv_4h")


def _ann(var_mean: pd.Series) -> pd.Series:
    return np.sqrt(var_mean * ANNUALIZATION)


def build_daily_features(
    daily: pd.DataFrame, rv_4h: pd.Series | None = None
) -> pd.DataFrame:
    """Daily feature frame; the row at day t uses candles up to and including t.

    Args:
        daily: Daily candles indexed by day (see :func:`to_daily_index`).
        rv_4h: Daily realised variance from 4-hour candles (see
            :func:`daily_rv_from_intraday`); days without it fall back to the squared
            daily return.

    Returns:
        Frame indexed like ``daily`` with columns :data:`DAILY_FEATURES` (NaN during
        warm-up).

    Notes:
        Parkinson: (ln H/L)^2 / (4 ln 2). Garman-Klass: 0.5 (ln H/L)^2 -
        (2 ln 2 - 1)(ln C/O)^2. Rogers-Satchell: ln(H/C) ln(H/O) + ln(L/C) ln(L/O).
        Each daily variance is averaged over the window and annualised with 365.
    """
    o, h, lo, c = (daily[k].astype("float64") for k in (OPEN, HIGH, LOW, CLOSE))
    r = log_returns(c)
    hl, co = np.log(h / lo), np.log(c / o)
    park = hl**2 / (4 * np.log(2))
    gk = 0.5 * hl**2 - (2 * np.log(2) - 1) * co**2
    rs = np.log(h / c) * np.log(h / o) + np.log(lo / c) * np.log(lo / o)
    rv_d = r**2 if rv_4h is None else rv_4h.reindex(daily.index).fillna(r**2)
    f: dict[str, pd.Series] = {}
    for w in VOL_WINDOWS:
        f[f"rv_cc_{w}d"] = r.rolling(w, min_periods=w).std(ddof=1) * np.sqrt(
            ANNUALIZATION
        )
    for name, est in (
        ("parkinson", park),
        ("garman_klass", gk),
        ("rogers_satchell", rs),
    ):
        for w in RANGE_WINDOWS:
            f[f"{name}_{w}d"] = _ann(est.rolling(w, min_periods=w).mean().clip(lower=0))
    for w in RV4H_WINDOWS:
        f[f"rv_4h_{w}d"] = _ann(rv_d.rolling(w, min_periods=w).mean())
    f["ret_1d"] = r
    f["ret_7d"] = r.rolling(7, min_periods=7).sum()
    f["ret_30d"] = r.rolling(30, min_periods=30).sum()
    f["abs_ret_1d"] = r.abs()
    vol = daily[VOLUME].astype("float64")
    vol_ratio = (
        vol.rolling(7, min_periods=7).mean() / vol.rolling(90, min_periods=90).mean()
    )
    f["volume_ratio_7_90"] = pd.Series(np.log(vol_ratio), index=daily.index)
    f["v30_change_7d"] = pd.Series(
        np.log(f["rv_cc_30d"] / f["rv_cc_30d"].shift(7)), index=daily.index
    )
    return pd.DataFrame(f, index=daily.index).loc[:, list(DAILY_FEATURES)]


def _known_sums(r: pd.Series, h: int) -> tuple[pd.Series, pd.Series]:
    """Sum of squares and sum of the returns of V30(t+h)'s window known at t."""
    n = V30_WINDOW - h
    if n <= 0:
        zero = pd.Series(0.0, index=r.index)
        return zero, zero
    return r.pow(2).rolling(n, min_periods=n).sum(), r.rolling(n, min_periods=n).sum()


def prior_log_variance(features: pd.DataFrame) -> pd.Series:
    """Unfitted forecast mu of Y = log(365 / h * S), S the sum of h future squared returns.

    Notes:
        mu = log(0.1 rv_4h_1d^2 + 0.3 rv_4h_7d^2 + 0.6 rv_4h_30d^2): a fixed HAR-like
        blend of annualised trailing variances, the same for every horizon.
    """
    var = sum(w * features[k] ** 2 for k, w in PRIOR_WEIGHTS.items())
    return pd.Series(np.log(np.asarray(var, dtype="float64")), index=features.index)


@lru_cache(maxsize=64)
def prior_residual_sample(h: int, n_chi: int = 40, n_norm: int = 15) -> np.ndarray:
    """Fixed quantile sample of the residual e = Y - mu at horizon h.

    Notes:
        e = log(chi2_h / h) + z, z ~ N(0, PRIOR_EXTRA_SD^2): the exact sampling noise of
        a sum of h squared Gaussian returns with known variance, plus forecast error of
        that variance. Outer sum of n_chi chi-square and n_norm normal mid-quantiles.
    """
    q_chi = np.log(chi2.ppf((np.arange(n_chi) + 0.5) / n_chi, h) / h)
    q_norm = PRIOR_EXTRA_SD * norm.ppf((np.arange(n_norm) + 0.5) / n_norm)
    return np.asarray((q_chi[:, None] + q_norm[None, :]).ravel(), dtype="float64")


@lru_cache(maxsize=64)
def _prior_table(h: int) -> tuple[np.ndarray, np.ndarray]:
    return residual_table(prior_residual_sample(h))


def _prior_block(
    k1: pd.Series, k2: pd.Series, mu: pd.Series, h: int, thresholds: tuple[float, float]
) -> dict[str, np.ndarray]:
    """prior_log_v30 and the three prior regime probabilities (NaN where inputs are)."""
    k1v, k2v, m = (np.asarray(x, dtype="float64") for x in (k1, k2, mu))
    ok = np.isfinite(k1v) & np.isfinite(k2v) & np.isfinite(m)
    n = len(m)
    out = {name: np.full(n, np.nan) for name in PRIOR_FEATURES}
    if not ok.any():
        return out
    k1o, k2o, mo = k1v[ok], k2v[ok], m[ok]
    es = (
        h
        / ANNUALIZATION
        * np.exp(mo)
        * float(np.mean(np.exp(prior_residual_sample(h))))
    )
    var = np.maximum(k2o + es - k1o**2 / V30_WINDOW, 1e-12)
    var = var * ANNUALIZATION / (V30_WINDOW - 1)
    out["prior_log_v30"][ok] = 0.5 * np.log(var)
    p = regime_probabilities(k1o, k2o, h, mo, _prior_table(h), thresholds)
    for j, name in enumerate(PRIOR_FEATURES[1:]):
        out[name][ok] = p[:, j]
    return out


def build_horizon_rows(
    daily: pd.DataFrame,
    features: pd.DataFrame,
    horizons: range | list[int],
    origins: pd.DatetimeIndex | None = None,
    thresholds: tuple[float, float] | list[float] = DEFAULT_THRESHOLDS,
) -> pd.DataFrame:
    """Model input rows, one per (origin day, horizon), columns :data:`FEATURE_NAMES`.

    Args:
        daily: Daily candles indexed by day.
        features: Output of :func:`build_daily_features` for ``daily``.
        horizons: Horizons in days (1..30).
        origins: Origin days to keep (default: every day).
        thresholds: Regime thresholds of the prior probabilities; must be the
            thresholds of the labels the model is trained on (training and serving).

    Returns:
        Frame with a (day, horizon) MultiIndex.

    Notes:
        known_vol = sqrt(365 * mean of the squared known returns), 0 when h = 30
        (nothing of the window is known yet); naive_v30_w
        combines them with the trailing w-day variance for the h unknown days:
        sqrt(365 * (sum_known + h * rv_w^2 / 365) / 30).

        The prior features have no fitted parameter: with K1, K2 the sum and sum of
        squares of the known returns, mu from :func:`prior_log_variance` and the fixed
        residual of :func:`prior_residual_sample`, prior_p_* are
        :func:`ml.distribution.regime_probabilities` (exact decomposition of V30(t+h))
        and prior_log_v30 = log V30 with S at its expectation (ddof=1, as the labels).
    """
    thresholds = check_thresholds(thresholds)
    r = log_returns(daily[CLOSE].astype("float64"))
    keep = features.index if origins is None else origins
    sel = features.index.isin(keep)
    mu = prior_log_variance(features)
    blocks = []
    for h in horizons:
        ss, s1 = _known_sums(r, h)
        n_known = V30_WINDOW - h
        block = features.copy()
        block[HORIZON] = float(h)
        block["known_share"] = n_known / V30_WINDOW
        block["known_vol"] = (
            np.sqrt(ANNUALIZATION * ss / n_known) if n_known > 0 else 0.0
        )
        for w in (7, 30):
            fut = h * features[f"rv_cc_{w}d"] ** 2 / ANNUALIZATION
            block[f"naive_v30_{w}"] = np.sqrt(ANNUALIZATION * (ss + fut) / V30_WINDOW)
        block = block.loc[sel]
        prior = _prior_block(s1[sel], ss[sel], mu[sel], int(h), thresholds)
        for name in PRIOR_FEATURES:
            block[name] = prior[name]
        block.index = pd.MultiIndex.from_arrays(
            [block.index, np.full(len(block), h)], names=["day", HORIZON]
        )
        blocks.append(block)
    return pd.concat(blocks).sort_index().loc[:, list(FEATURE_NAMES)]


def require_history(days: pd.Index, asof: pd.Timestamp) -> None:
    """Raise unless ``days`` (the daily candles' days) holds :data:`MIN_HISTORY` up to
    ``asof``; the error names the earliest as-of day that has them."""
    got = int((days <= asof).sum())
    if got < MIN_HISTORY:
        ordered = days.sort_values()
        earliest = (
            str(ordered[MIN_HISTORY - 1].date())
            if len(ordered) >= MIN_HISTORY
            else None
        )
        raise InsufficientHistoryError(
            "daily candles", MIN_HISTORY, got, at=str(asof.date()), earliest=earliest
        )
