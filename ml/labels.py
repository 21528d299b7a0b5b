"""Volatility target and regime labels. The regime thresholds live here only.

V30 on day t is the sample standard deviation (ddof=1) of the 30 daily log
close-to-close returns ending on day t (the return into t included), annualised by
sqrt(365). The regime of V30 is Low if V30 <= 0.40, Normal if <= 0.65, else High.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml._typing import Regime
from ml.errors import DataValidationError

__all__ = [
    "ANNUALIZATION",
    "DEFAULT_THRESHOLDS",
    "MAX_THRESHOLD",
    "REGIMES",
    "REGIME_CODES",
    "V30_WINDOW",
    "check_thresholds",
    "compute_v30",
    "future_regime_labels",
    "label_regimes",
    "log_returns",
    "realized_vol_forward",
    "regime_name",
]

ANNUALIZATION = 365.0
"""Crypto trades every day: annualise daily variance by 365."""
V30_WINDOW = 30
DEFAULT_THRESHOLDS: tuple[float, float] = (0.40, 0.65)
REGIMES: tuple[Regime, Regime, Regime] = ("low", "normal", "high")
REGIME_CODES: dict[str, int] = {r: i for i, r in enumerate(REGIMES)}


MAX_THRESHOLD = 10.0
"""Largest accepted cut point: 1000% annualised volatility (BTC's V30 peaked near 2)."""


def check_thresholds(
    thresholds: tuple[float, float] | list[float],
) -> tuple[float, float]:
    """Return thresholds as a tuple after checking 0 < low < high.

    Raises:
        DataValidationError: Not two finite increasing positive numbers.
    """
    vals = tuple(float(x) for x in thresholds)
    if (
        len(vals) != 2 or not all(np.isfinite(vals))
        or not 0 < vals[0] < vals[1] <= MAX_THRESHOLD
    ):  # fmt: skip
        raise DataValidationError(
            "thresholds", list(thresholds),
            f"expected two numbers 0 < low < high <= {MAX_THRESHOLD:g} "
            "(annualised volatility, 0.40 = 40%)",
        )  # fmt: skip
    return vals[0], vals[1]


def log_returns(close: pd.Series) -> pd.Series:
    """Daily log returns r_t = ln(C_t / C_{t-1}); NaN on the first day."""
    return pd.Series(np.log(close.to_numpy(dtype="float64")), index=close.index).diff()


def compute_v30(close: pd.Series, window: int = V30_WINDOW) -> pd.Series:
    """Annualised trailing volatility of daily log returns.

    Args:
        close: Daily closes, one row per consecutive day.
        window: Number of returns in the window (30 for V30).

    Returns:
        Series aligned with ``close``; NaN until ``window`` returns exist.

    Notes:
        V_t = std(r_{t-window+1}, ..., r_t; ddof=1) * sqrt(365), r = log returns.
    """
    r = log_returns(close)
    return r.rolling(window, min_periods=window).std(ddof=1) * np.sqrt(ANNUALIZATION)


def label_regimes(
    vol: pd.Series | np.ndarray, thresholds: tuple[float, float] = DEFAULT_THRESHOLDS
) -> np.ndarray:
    """Map volatility levels to regime codes 0=low, 1=normal, 2=high (NaN -> -1).

    Boundaries are closed on the left class: V <= low is Low, V <= high is Normal.
    """
    low, high = check_thresholds(thresholds)
    v = np.asarray(vol, dtype="float64")
    codes = np.where(v <= low, 0, np.where(v <= high, 1, 2))
    return np.where(np.isnan(v), -1, codes).astype("int64")


def regime_name(code: int) -> Regime:
    """Regime name of a code."""
    return REGIMES[code]


def future_regime_labels(
    close: pd.Series, horizons: range | list[int], thresholds: tuple[float, float]
) -> pd.DataFrame:
    """Regime of V30 on day t+h for every origin t, one column ``regime_h{h:02d}``.

    The label at (t, h) uses closes up to t+h: it is known only from day t+h on.
    """
    codes = label_regimes(compute_v30(close), thresholds)
    s = pd.Series(codes, index=close.index)
    return pd.DataFrame(
        {f"regime_h{h:02d}": s.shift(-h).fillna(-1).astype("int64") for h in horizons},
        index=close.index,
    )


def realized_vol_forward(close: pd.Series, h: int) -> pd.Series:
    """Annualised realised volatility over (t, t+h], aligned at t.

    Notes:
        sqrt(365/h * sum_{i=1..h} r_{t+i}^2) (zero-mean estimator, log returns).
    """
    r2 = log_returns(close) ** 2
    fwd = r2.rolling(h, min_periods=h).sum().shift(-h)
    return np.sqrt(fwd * ANNUALIZATION / h)
