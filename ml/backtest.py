"""Walk-forward backtest of the structural model: one row per (origin, horizon).

Same protocol as :func:`ml.evaluation.walk_forward` (expanding window, refit every
``refit_every`` days from ``start``, targets used only once known). A forecast for
origin t depends only on candles up to t and on the refit day, which depends only on
``start`` and ``refit_every``: appending candles never changes an earlier row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml._typing import FloatArray, IntArray
from ml.evaluation import PROB_COLUMNS, WalkForwardResult
from ml.labels import REGIMES
from ml.panel import Panel
from ml.scoring import realized_variance_forward
from ml.structural import StructuralForecaster, StructuralSpec

__all__ = ["BACKTEST_COLUMNS", "BacktestResult", "backtest_frame", "run_backtest"]

BACKTEST_COLUMNS = (
    "origin_date", "horizon", *PROB_COLUMNS, "vol_forecast", "vol_lo", "vol_hi",
    "var_forecast", "target_date", "realized_v30", "realized_regime", "realized_vol",
)  # fmt: skip
"""Columns of the backtest CSV (realised values empty when not yet known)."""


@dataclass(frozen=True)
class BacktestResult:
    """Regime probabilities and level forecasts of every origin x horizon."""

    regimes: WalkForwardResult
    level: FloatArray
    """(n, H, 4): E[vol], q10, q90, E[variance], annualised (see level_forecast)."""


def run_backtest(
    panel: Panel,
    start: str,
    refit_every: int = 30,
    spec: StructuralSpec | None = None,
    last_origin: int | None = None,
) -> BacktestResult:
    """Walk-forward predictions of the structural model from ``start`` on."""
    first = panel.day_index(start)
    first = max(first, panel.first_usable)
    end = len(panel.days) - 1 if last_origin is None else last_origin
    if first > end:
        raise ValueError(
            f"start {start} is after the last usable day {panel.days[end].date()}"
        )
    probs, levels = [], []
    for cutoff in range(first, end + 1, refit_every):
        origins = np.arange(cutoff, min(cutoff + refit_every, end + 1))
        model = StructuralForecaster(spec)
        model.fit(panel, cutoff)
        probs.append(model.predict_proba(panel, origins))
        levels.append(model.predict_level(panel, origins))
    origins = np.arange(first, end + 1)
    result = WalkForwardResult(
        name=StructuralForecaster.name, origins=origins, proba=np.concatenate(probs),
        labels=panel.labels[origins], days=panel.days[origins],
    )  # fmt: skip
    return BacktestResult(regimes=result, level=np.concatenate(levels))


def _future(values: FloatArray, origins: IntArray, max_h: int) -> FloatArray:
    n = len(values)
    idx = origins[:, None] + np.arange(1, max_h + 1)[None, :]
    out = np.full(idx.shape, np.nan)
    ok = idx < n
    out[ok] = values[idx[ok]]
    return out


def backtest_frame(panel: Panel, result: BacktestResult) -> pd.DataFrame:
    """Long table with :data:`BACKTEST_COLUMNS`, one row per (origin, horizon)."""
    reg = result.regimes
    n, hh, _ = reg.proba.shape
    hs = np.arange(1, hh + 1)
    days = np.repeat(reg.days.values, hh)
    rv = realized_variance_forward(panel.returns, hh)[reg.origins]
    labels = reg.labels.reshape(-1)
    frame = pd.DataFrame(
        {
            "origin_date": pd.DatetimeIndex(days).date,
            "horizon": np.tile(hs, n),
            **{c: reg.proba[:, :, k].reshape(-1) for k, c in enumerate(PROB_COLUMNS)},
            "vol_forecast": result.level[:, :, 0].reshape(-1),
            "vol_lo": result.level[:, :, 1].reshape(-1),
            "vol_hi": result.level[:, :, 2].reshape(-1),
            "var_forecast": result.level[:, :, 3].reshape(-1),
            "target_date": (
                pd.DatetimeIndex(days) + pd.to_timedelta(np.tile(hs, n), "D")
            ).date,
            "realized_v30": _future(panel.v30, reg.origins, hh).reshape(-1),
            "realized_regime": [REGIMES[k] if k >= 0 else "" for k in labels],
            "realized_vol": np.sqrt(rv).reshape(-1),
        }
    )
    return frame.loc[:, list(BACKTEST_COLUMNS)]
