"""The panel: every array a forecaster may need, aligned on day indices.

Building it once per data set keeps walk-forward evaluation fast. Features at day i
use candles up to day i only; ``labels[i, h-1]`` is the regime of V30 on day i+h and
is known only from day i+h on, which :meth:`Panel.label_known` encodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml._typing import FloatArray, IntArray
from ml.data import CLOSE
from ml.features import (
    FEATURE_NAMES,
    MIN_HISTORY,
    build_daily_features,
    build_horizon_rows,
    daily_rv_from_intraday,
    to_daily_index,
)
from ml.labels import compute_v30, label_regimes, log_returns

__all__ = ["Panel", "build_panel"]


@dataclass(frozen=True)
class Panel:
    """Aligned arrays over days 0..n-1 and horizons 1..H."""

    days: pd.DatetimeIndex
    daily: pd.DataFrame
    features: pd.DataFrame
    x: FloatArray
    """Model inputs, shape (n_days, H, len(FEATURE_NAMES))."""
    returns: FloatArray
    """Daily log returns (NaN on day 0)."""
    rv_daily: FloatArray
    """Daily realised variance (4-hour based where available, else r^2)."""
    v30: FloatArray
    """V30 on each day (NaN in warm-up)."""
    labels: IntArray
    """Regime code of V30 on day i+h at [i, h-1]; -1 when beyond the data."""
    thresholds: tuple[float, float]

    @property
    def horizons(self) -> range:
        """Horizons 1..H."""
        return range(1, self.labels.shape[1] + 1)

    @property
    def first_usable(self) -> int:
        """First day with a complete feature row."""
        return MIN_HISTORY - 1

    def day_index(self, day: str | pd.Timestamp) -> int:
        """Index of the first day >= ``day``."""
        return int(self.days.searchsorted(pd.Timestamp(day)))

    def first_full_cutoff(self, keep: np.ndarray | None = None) -> int | None:
        """Earliest cutoff whose known labels hold every regime, so a classifier can be
        fitted (None: the data never does). ``keep`` masks the (day, horizon) rows used."""
        from ml.labels import REGIMES

        known = self.label_known(len(self.days) + max(self.horizons))
        if keep is not None:
            known = known & keep
        when = np.arange(len(self.days))[:, None] + np.asarray(self.horizons)
        firsts = [when[known & (self.labels == k)] for k in range(len(REGIMES))]
        if any(len(f) == 0 for f in firsts):
            return None
        return int(max(f.min() for f in firsts))

    def label_known(self, cutoff: int) -> np.ndarray:
        """Mask (n_days, H): label of (i, h) was known on day ``cutoff`` (i + h <= cutoff)."""
        i = np.arange(len(self.days))[:, None]
        h = np.asarray(self.horizons)[None, :]
        return (i + h <= cutoff) & (i >= self.first_usable) & (self.labels >= 0)


def build_panel(
    daily_candles: pd.DataFrame,
    candles_4h: pd.DataFrame | None,
    thresholds: tuple[float, float],
    max_horizon: int = 30,
) -> Panel:
    """Build the panel from validated canonical candle frames."""
    daily = to_daily_index(daily_candles)
    rv4 = daily_rv_from_intraday(candles_4h) if candles_4h is not None else None
    feats = build_daily_features(daily, rv4)
    horizons = range(1, max_horizon + 1)
    rows = build_horizon_rows(daily, feats, horizons, thresholds=thresholds)
    n, k = len(daily), len(FEATURE_NAMES)
    x = rows.to_numpy(dtype="float64").reshape(n, len(horizons), k)
    close = daily[CLOSE].astype("float64")
    r = log_returns(close).to_numpy()
    r2 = pd.Series(r**2, index=daily.index)
    rv_d = (r2 if rv4 is None else rv4.reindex(daily.index).fillna(r2)).to_numpy()
    v30 = compute_v30(close).to_numpy()
    codes = label_regimes(v30, thresholds)
    labels = np.full((n, max_horizon), -1, dtype="int64")
    for h in horizons:
        labels[: n - h, h - 1] = codes[h:]
    return Panel(
        days=pd.DatetimeIndex(daily.index), daily=daily, features=feats, x=np.ascontiguousarray(x),
        returns=r, rv_daily=rv_d, v30=v30, labels=labels, thresholds=thresholds,
    )  # fmt: skip
