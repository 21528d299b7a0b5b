"""Level-forecast metrics and block-bootstrap confidence intervals.

Classification metrics live in :mod:`ml.evaluation`; this module adds QLIKE and
interval coverage for the volatility level, realised-level targets, and a moving
block bootstrap over origins for any per-origin metric.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ml._typing import FloatArray, IntArray
from ml.labels import ANNUALIZATION

__all__ = [
    "block_bootstrap_ci",
    "interval_coverage",
    "qlike",
    "qlike_terms",
    "realized_variance_forward",
]


def qlike_terms(realized_var: FloatArray, forecast_var: FloatArray) -> FloatArray:
    """Per-row QLIKE loss x/f - log(x/f) - 1 (0 for a perfect forecast).

    Args:
        realized_var: Realised variance x > 0 (any units, same as the forecast).
        forecast_var: Forecast variance f > 0.

    Notes:
        Patton (2011): robust to noise in x; the expected loss is minimised by
        f = E[x]. Rows are variances, not volatilities.
    """
    ratio = np.asarray(realized_var, dtype="float64") / np.asarray(
        forecast_var, dtype="float64"
    )
    return np.asarray(ratio - np.log(ratio) - 1.0, dtype="float64")


def qlike(realized_var: FloatArray, forecast_var: FloatArray) -> float:
    """Mean QLIKE (see :func:`qlike_terms`)."""
    return float(np.mean(qlike_terms(realized_var, forecast_var)))


def interval_coverage(realized: FloatArray, lo: FloatArray, hi: FloatArray) -> float:
    """Share of rows with lo <= realized <= hi."""
    x = np.asarray(realized, dtype="float64")
    return float(np.mean((x >= lo) & (x <= hi)))


def realized_variance_forward(returns: FloatArray, max_h: int) -> FloatArray:
    """Annualised realised variance over (t, t+h]: 365/h sum r_{t+1..t+h}^2, (n, H).

    NaN where t + h lies beyond the data; the square root is
    :func:`ml.labels.realized_vol_forward`.
    """
    r2 = np.nan_to_num(np.asarray(returns, dtype="float64")) ** 2
    c = np.concatenate([[0.0], np.cumsum(r2)])
    n = len(r2)
    out = np.full((n, max_h), np.nan)
    for h in range(1, max_h + 1):
        out[: n - h, h - 1] = (c[h + 1 :] - c[1 : n - h + 1]) * ANNUALIZATION / h
    return out


def block_bootstrap_ci(
    statistic: Callable[[IntArray], float],
    n: int,
    block: int = 30,
    n_boot: int = 200,
    level: float = 0.90,
    seed: int = 7,
) -> tuple[float, float]:
    """Moving-block bootstrap interval of a statistic over n ordered origins.

    Args:
        statistic: Maps an index array (resampled origin positions) to a number.
        n: Number of origins.
        block: Block length in origins (30: a month, longer than the label overlap).
        n_boot: Bootstrap replicates.
        level: Two-sided coverage of the percentile interval.
        seed: RNG seed (deterministic).

    Returns:
        (lower, upper) percentile bounds.
    """
    rng = np.random.default_rng(seed)
    n_blocks = int(np.ceil(n / block))
    starts = rng.integers(0, max(n - block, 0) + 1, size=(n_boot, n_blocks))
    stats = np.empty(n_boot)
    for b in range(n_boot):
        idx = (starts[b][:, None] + np.arange(block)[None, :]).reshape(-1)[:n]
        stats[b] = statistic(idx)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [a, 1.0 - a])
    return float(lo), float(hi)
