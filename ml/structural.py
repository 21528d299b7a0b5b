"""The structural volatility model: forecast future variance, integrate over regimes.

For origin t and horizon h the model forecasts Y = log(365/h sum_{i=1..h} r_{t+i}^2),
the annualised log realised variance of the h unknown returns of V30(t+h)'s window,
with one pooled XGBoost regressor (horizon is an input). Its residual distribution
per horizon comes from an inner time split: a model fitted on targets known
``calib_days`` before the cutoff predicts the targets that became known since, and
those out-of-sample residuals are the residual sample. :mod:`ml.distribution` then
combines the forecast with the known returns of the window exactly, giving regime
probabilities for any thresholds and the level forecast with its 80% interval.

The served form is the regressor (``LEVEL_BOOSTER_FILE``, sklearn-API
``XGBRegressor``, ``predict`` gives mu) plus the residual samples
(``RESIDUALS_FILE``, JSON {"h01": [...], ...}).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from ml._typing import FloatArray, IntArray
from ml.distribution import level_forecast, regime_probabilities
from ml.labels import ANNUALIZATION
from ml.panel import Panel
from ml.vol_baselines import known_window_sums

LINEAR_FEATURES: tuple[str, ...] = (
    "logvar_rv_4h_1d", "logvar_rv_4h_7d", "logvar_rv_4h_30d", "logvar_rv_cc_7d",
    "logvar_rv_cc_30d", "logvar_rv_cc_90d", "logvar_parkinson_7d",
    "logvar_garman_klass_30d", "ret_7d", "ret_30d",
)  # fmt: skip
"""Inputs of the per-horizon linear (HAR-X) level model."""


@dataclass(frozen=True)
class LinearLevelModel:
    """Per-horizon ridge regressions; ``predict`` takes :func:`level_design` rows."""

    columns: IntArray
    """Positions of LINEAR_FEATURES in a level_design row (after the horizon)."""
    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    """(H, 1 + k) intercept and coefficients on standardised columns."""

    def predict(self, x: FloatArray) -> FloatArray:
        """mu for rows [horizon, LEVEL_FEATURES...]."""
        h = x[:, 0].astype("int64")
        z = (x[:, 1:][:, self.columns] - self.mean) / self.scale
        b = self.coef[h - 1]
        return np.asarray(b[:, 0] + np.sum(b[:, 1:] * z, axis=1), dtype="float64")


def fit_linear(x: FloatArray, y: FloatArray, ridge: float) -> LinearLevelModel:
    """Ridge per horizon on level_design rows (column 0 is the horizon)."""
    names = list(LEVEL_FEATURES[1:])
    cols = np.array([names.index(c) for c in LINEAR_FEATURES])
    h = x[:, 0].astype("int64")
    raw = x[:, 1:][:, cols]
    mean, scale = raw.mean(axis=0), raw.std(axis=0) + 1e-12
    z = (raw - mean) / scale
    coef = np.zeros((int(h.max()), 1 + len(cols)))
    for k in range(1, int(h.max()) + 1):
        sel = h == k
        a = np.column_stack([np.ones(sel.sum()), z[sel]])
        pen = ridge * sel.sum() * np.eye(a.shape[1])
        pen[0, 0] = 0.0
        coef[k - 1] = np.linalg.solve(a.T @ a + pen, a.T @ y[sel])
    return LinearLevelModel(columns=cols, mean=mean, scale=scale, coef=coef)


__all__ = [
    "LEVEL_BOOSTER_FILE",
    "STRUCTURAL_FILE",
    "forecast_asof",
    "structural_from_dict",
    "structural_to_dict",
    "LEVEL_FEATURES",
    "RESIDUALS_FILE",
    "StructuralForecaster",
    "StructuralSpec",
    "StructuralTable",
    "fit_structural",
    "future_log_variance",
    "level_design",
    "level_features",
]

LEVEL_BOOSTER_FILE = "model.ubj"
"""File of the level regressor in its own model folder (MLServer's xgboost runtime)."""
RESIDUALS_FILE = "residuals.json"
"""Per-horizon residual samples of the level model (keys h01..h30)."""

_LOG_VOLS = (
    "rv_cc_7d", "rv_cc_14d", "rv_cc_30d", "rv_cc_60d", "rv_cc_90d",
    "parkinson_7d", "parkinson_30d", "garman_klass_7d", "garman_klass_30d",
    "rv_4h_1d", "rv_4h_7d", "rv_4h_30d",
)  # fmt: skip
_RAW = ("ret_1d", "ret_7d", "ret_30d", "volume_ratio_7_90")
LEVEL_FEATURES: tuple[str, ...] = (
    "horizon",
    *(f"logvar_{c}" for c in _LOG_VOLS),
    *_RAW,
)
"""Column order of the level regressor's input (serving must send the same)."""
_VOL_FLOOR = 1e-3
N_RESIDUAL_QUANTILES = 200
"""Residual distribution kept as this many quantiles per horizon."""


def level_features(features: pd.DataFrame) -> pd.DataFrame:
    """Daily inputs of the level model from :func:`ml.features.build_daily_features`.

    Notes:
        logvar_x = 2 log(max(x, 0.001)): annualised log variance of each trailing
        volatility estimator (stationary, on the target's scale); returns and the
        volume ratio as they are. Row t uses candles up to t only.
    """
    out = {
        f"logvar_{c}": 2.0 * np.log(features[c].clip(lower=_VOL_FLOOR))
        for c in _LOG_VOLS
    }
    out.update({c: features[c] for c in _RAW})
    return pd.DataFrame(out, index=features.index)


def level_design(
    daily: FloatArray, origins: IntArray, horizons: list[int]
) -> FloatArray:
    """Regressor rows for origins x horizons: (len(origins) * len(horizons), k).

    Row order is origin-major (all horizons of the first origin first).
    """
    n, hs = len(origins), np.asarray(horizons, dtype="float64")
    x = np.repeat(daily[origins], len(hs), axis=0)
    return np.column_stack([np.tile(hs, n), x])


def future_log_variance(returns: FloatArray, max_h: int) -> FloatArray:
    """Target Y[t, h-1] = log(365/h sum_{i=1..h} r_{t+i}^2); NaN beyond the data."""
    r2 = np.nan_to_num(np.asarray(returns, dtype="float64")) ** 2
    c = np.concatenate([[0.0], np.cumsum(r2)])
    n = len(r2)
    out = np.full((n, max_h), np.nan)
    for h in range(1, max_h + 1):
        s = c[h + 1 :] - c[1 : n - h + 1]  # sum r_{t+1..t+h} for t = 0..n-h-1
        out[: n - h, h - 1] = np.log(np.maximum(s, 1e-12) * ANNUALIZATION / h)
    return out


@dataclass(frozen=True)
class StructuralSpec:
    """Hyper-parameters of the level regressor and its residual calibration."""

    n_estimators: int = 300
    max_depth: int = 3
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 50.0
    row_stride: int = 3
    """Keep training row (i, h) when (i + 7 h) % row_stride == 0 (speed)."""
    calib_days: int = 0
    """> 0: residuals from an inner time split (a model fitted on targets known
    calib_days before the cutoff, scored on the targets known since); 0: in-sample
    residuals of the full fit (chosen on the pre-2021 tuning walk-forward)."""
    kind: str = "linear"
    """``linear``: one ridge regression per horizon on LINEAR_FEATURES; ``xgb``: one
    pooled XGBRegressor on LEVEL_FEATURES (horizon as input)."""
    ridge: float = 1.0
    fit_target: str = "rv4h"
    """Target the regression is fitted on: ``r2`` (squared daily returns, the V30
    target itself) or ``rv4h`` (the smoother 4-hour realised variance over the same
    days). Residuals are always taken against the r2 target, so any level offset
    between the two is absorbed by the residual distribution."""
    """Ridge penalty per row (linear), on standardised columns."""
    seed: int = 7
    n_jobs: int = 1

    def params(self) -> dict[str, float | int | str]:
        """Keyword arguments for ``xgb.XGBRegressor``."""
        keep = ("n_estimators", "max_depth", "learning_rate", "subsample",
                "colsample_bytree", "min_child_weight", "n_jobs")  # fmt: skip
        p = {k: v for k, v in asdict(self).items() if k in keep}
        return {**p, "random_state": self.seed, "objective": "reg:squarederror",
                "tree_method": "hist"}  # fmt: skip


class StructuralForecaster:
    """Walk-forward wrapper: fit at a cutoff, predict regimes and levels."""

    name = "structural"

    def __init__(self, spec: StructuralSpec | None = None) -> None:
        self.spec = spec or StructuralSpec()
        self.model_: xgb.XGBRegressor | LinearLevelModel | None = None
        self.resid_: list[FloatArray] | None = None
        self._cache: tuple[int, FloatArray, FloatArray, FloatArray] | None = None

    def _arrays(self, panel: Panel, fit: bool = False) -> tuple[FloatArray, FloatArray]:
        key = id(panel)
        if self._cache is None or self._cache[0] != key:
            daily = level_features(panel.features).to_numpy(dtype="float64")
            y = future_log_variance(panel.returns, len(panel.horizons))
            y_fit = y
            if self.spec.fit_target == "rv4h":
                y_fit = future_log_variance(
                    np.sqrt(panel.rv_daily), len(panel.horizons)
                )
            self._cache = (key, daily, y, y_fit)
        return self._cache[1], self._cache[3] if fit else self._cache[2]

    def _rows(
        self, panel: Panel, last_target: int, first_target: int = -1, stride: int = 1,
        fit: bool = False,
    ) -> tuple[FloatArray, FloatArray, IntArray]:  # fmt: skip
        """Rows (x, y, h) whose target day i + h lies in (first_target, last_target]."""
        daily, y = self._arrays(panel, fit)
        i = np.arange(len(panel.days))[:, None]
        h = np.asarray(panel.horizons)[None, :]
        keep = (
            (i + h <= last_target) & (i + h > first_target) & (i >= panel.first_usable)
        )
        keep &= np.asarray(np.isfinite(daily).all(axis=1))[:, None] & np.isfinite(y)
        if stride > 1:
            keep &= (i + 7 * h) % stride == 0
        ii, jj = np.nonzero(keep)
        x = np.column_stack([jj + 1.0, daily[ii]])
        return x, y[ii, jj], jj + 1

    def _fit_model(
        self, x: FloatArray, y: FloatArray
    ) -> xgb.XGBRegressor | LinearLevelModel:
        if self.spec.kind == "linear":
            return fit_linear(x, y, self.spec.ridge)
        model = xgb.XGBRegressor(**self.spec.params())
        model.fit(x, y)
        return model

    def fit(self, panel: Panel, cutoff: int) -> None:
        """Fit on targets known at ``cutoff``; residuals from the inner time split."""
        s = self.spec
        split = cutoff - s.calib_days
        stride = s.row_stride if s.kind == "xgb" else 1
        self.model_ = self._fit_model(
            *self._rows(panel, cutoff, stride=stride, fit=True)[:2]
        )
        if s.calib_days > 0:
            inner = self._fit_model(
                *self._rows(panel, split, stride=stride, fit=True)[:2]
            )
            xc, yc, hc = self._rows(panel, cutoff, first_target=split)
            res = yc - inner.predict(xc)
        else:  # in-sample residuals of the full fit
            xc, yc, hc = self._rows(panel, cutoff)
            res = yc - self.model_.predict(xc)
        levels = (np.arange(N_RESIDUAL_QUANTILES) + 0.5) / N_RESIDUAL_QUANTILES
        self.resid_ = [np.quantile(res[hc == h], levels) for h in panel.horizons]

    def predict_mu(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Location of Y for origins x horizons: (n, H)."""
        if self.model_ is None:
            raise RuntimeError("StructuralForecaster: call fit() before predicting")
        daily, _ = self._arrays(panel)
        hs = list(panel.horizons)
        x = level_design(daily, np.asarray(origins), hs)
        return np.asarray(self.model_.predict(x), dtype="float64").reshape(
            len(origins), len(hs)
        )

    def predict_proba(
        self,
        panel: Panel,
        origins: IntArray,
        thresholds: tuple[float, float] | None = None,
    ) -> FloatArray:
        """Regime probabilities (n, H, 3) at ``thresholds`` (default: the panel's)."""
        assert self.resid_ is not None
        mu = self.predict_mu(panel, origins)
        k1, k2 = known_window_sums(
            panel.returns, np.asarray(origins), len(panel.horizons)
        )
        th = thresholds or panel.thresholds
        return np.stack(
            [regime_probabilities(k1[:, j], k2[:, j], h, mu[:, j], self.resid_[j], th)
             for j, h in enumerate(panel.horizons)], axis=1,
        )  # fmt: skip

    def predict_level(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Level forecast (n, H, 4): E[vol], q10, q90, E[variance] (annualised)."""
        assert self.resid_ is not None
        mu = self.predict_mu(panel, origins)
        return np.stack(
            [level_forecast(mu[:, j], self.resid_[j]) for j in range(mu.shape[1])],
            axis=1,
        )


STRUCTURAL_FILE = "structural.json"
"""Serving artifact of the structural model (coefficients + residual quantiles)."""


def structural_to_dict(model: StructuralForecaster) -> dict[str, object]:
    """JSON-ready form of a fitted linear structural model (the serving artifact)."""
    lin = model.model_
    if not isinstance(lin, LinearLevelModel) or model.resid_ is None:
        raise RuntimeError("structural_to_dict: fit a kind='linear' model first")
    return {
        "spec": asdict(model.spec),
        "level_features": list(LEVEL_FEATURES),
        "linear_features": list(LINEAR_FEATURES),
        "mean": lin.mean.tolist(),
        "scale": lin.scale.tolist(),
        "coef": lin.coef.tolist(),
        "residual_quantiles": [r.tolist() for r in model.resid_],
    }


def structural_from_dict(data: dict[str, object]) -> StructuralForecaster:
    """Rebuild a fitted structural model from :func:`structural_to_dict` output."""
    spec = StructuralSpec(**data["spec"])  # type: ignore[arg-type]
    model = StructuralForecaster(spec)
    names = list(LEVEL_FEATURES[1:])
    model.model_ = LinearLevelModel(
        columns=np.array([names.index(c) for c in data["linear_features"]]),  # type: ignore[attr-defined]
        mean=np.asarray(data["mean"], dtype="float64"),
        scale=np.asarray(data["scale"], dtype="float64"),
        coef=np.asarray(data["coef"], dtype="float64"),
    )
    model.resid_ = [np.asarray(r, dtype="float64") for r in data["residual_quantiles"]]  # type: ignore[attr-defined]
    return model


def forecast_asof(
    model: StructuralForecaster,
    daily_candles: pd.DataFrame,
    candles_4h: pd.DataFrame | None,
    asof: pd.Timestamp,
    thresholds: tuple[float, float],
    max_horizon: int = 30,
) -> pd.DataFrame:
    """Serving-time forecast for one as-of day from candles up to and including it.

    Returns:
        One row per horizon: horizon, p_low, p_normal, p_high, vol_forecast, vol_lo,
        vol_hi (annualised; see :func:`ml.distribution.level_forecast`).
    """
    from ml.data import OPEN_TIME

    keep = daily_candles[OPEN_TIME] < asof + pd.Timedelta(days=1)
    h4 = None
    if candles_4h is not None and len(candles_4h):
        h4 = candles_4h[candles_4h[OPEN_TIME] < asof + pd.Timedelta(days=1)]
    from ml.panel import build_panel

    panel = build_panel(
        daily_candles[keep].reset_index(drop=True), h4, thresholds, max_horizon
    )
    origin = np.array([len(panel.days) - 1])
    p = model.predict_proba(panel, origin)[0]
    lv = model.predict_level(panel, origin)[0]
    return pd.DataFrame(
        {"horizon": list(panel.horizons), "p_low": p[:, 0], "p_normal": p[:, 1],
         "p_high": p[:, 2], "vol_forecast": lv[:, 0], "vol_lo": lv[:, 1], "vol_hi": lv[:, 2]}
    )  # fmt: skip


def fit_structural(
    panel: Panel, spec: StructuralSpec | None = None
) -> StructuralForecaster:
    """The serving model: fitted on every target known on the panel's last day."""
    model = StructuralForecaster(spec)
    model.fit(panel, len(panel.days) - 1)
    return model


class StructuralTable:
    """Every as-of day's structural forecast inputs, computed once (serving).

    Holds mu and the known-window sums K1, K2 for each (day, horizon) of a panel, and
    each horizon's residual CDF table, so one request is only the exact integration
    of :func:`ml.distribution.regime_probabilities` (about 1 ms for 30 horizons).
    Results equal :func:`forecast_asof` on the candles cut at that day.
    """

    def __init__(self, model: StructuralForecaster, panel: Panel) -> None:
        from ml.distribution import residual_table

        if model.resid_ is None:
            raise RuntimeError("StructuralTable: the model is not fitted")
        self.model, self.days = model, panel.days
        first = panel.first_usable
        origins = np.arange(first, len(panel.days))
        self.first = first
        self.mu = model.predict_mu(panel, origins)
        self.k1, self.k2 = known_window_sums(
            panel.returns, origins, len(panel.horizons)
        )
        self.level = model.predict_level(panel, origins)
        self.tables = [residual_table(r) for r in model.resid_]

    def forecast(
        self, day: pd.Timestamp, horizons: list[int], thresholds: tuple[float, float]
    ) -> tuple[FloatArray, FloatArray]:
        """(probabilities (len(horizons), 3), level (len(horizons), 3): mean, q10, q90).

        Raises:
            KeyError: ``day`` is not a day of the table (or lies in the warm-up).
        """
        loc = self.days.get_loc(day)
        if not isinstance(loc, (int, np.integer)):
            raise KeyError(day)
        i = int(loc) - self.first
        if i < 0:
            raise KeyError(day)
        p = np.stack([
            regime_probabilities(self.k1[i : i + 1, h - 1], self.k2[i : i + 1, h - 1], h,
                                 self.mu[i : i + 1, h - 1], self.tables[h - 1], thresholds)[0]
            for h in horizons
        ])  # fmt: skip
        return p, self.level[i, [h - 1 for h in horizons], :3]
