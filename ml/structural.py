"""The structural volatility model: a pool of variance forecasters, integrated exactly.

For origin t and horizon h every member of the pool (:mod:`ml.components`: a
HAR-X ridge regression, HAR-RV and GARCH(1,1)-t) forecasts Y = log(365/h sum_{i=1..h}
r_{t+i}^2), the annualised log realised variance of the h unknown returns of
V30(t+h)'s window, as a location mu plus a residual distribution.
:mod:`ml.distribution` combines each with the returns of the window already known at
t exactly, giving regime probabilities for any thresholds and the level forecast
with its 80% interval.

The pool is a linear opinion pool: P = sum_k w_hk P_k, one weight vector per
horizon. The weights are fitted at every refit on the members' own out-of-sample
forecasts before the cutoff (an inner expanding walk-forward: members refit every
``refit_every`` days, each forecast scored once its label was known at the cutoff),
by maximising the log score (EM, :func:`ml.distribution.pool_weights`). The test
period never informs them. The level forecast is the same mixture of the members'
level distributions.
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ml._typing import FloatArray, IntArray
from ml.components import (
    HAR_FEATURES,
    Component,
    ComponentSpec,
    fit_component,
)
from ml.distribution import (
    PROB_FLOOR,
    mixture_level,
    pool_weights,
    qlike_weights,
    regime_probabilities,
    residual_table,
)
from ml.panel import Panel
from ml.scoring import realized_variance_forward
from ml.vol_baselines import known_window_sums

__all__ = [
    "DEFAULT_COMPONENTS",
    "LEVEL_FEATURES",
    "LINEAR_FEATURES",
    "STRUCTURAL_FILE",
    "StructuralForecaster",
    "StructuralSpec",
    "StructuralTable",
    "fit_structural",
    "forecast_asof",
    "future_log_variance",
    "level_features",
    "structural_from_dict",
    "structural_to_dict",
]

STRUCTURAL_FILE = "structural.json"
"""Serving artifact of the structural model (members, residuals, pool weights)."""
ARTIFACT_VERSION = 2
"""Version of the ``structural.json`` layout (2: the pool)."""

_LOG_VOLS = (
    "rv_cc_7d", "rv_cc_14d", "rv_cc_30d", "rv_cc_60d", "rv_cc_90d",
    "parkinson_7d", "parkinson_30d", "garman_klass_7d", "garman_klass_30d",
    "rv_4h_1d", "rv_4h_7d", "rv_4h_30d",
)  # fmt: skip
_RAW = ("ret_1d", "ret_7d", "ret_30d", "volume_ratio_7_90")
LEVEL_FEATURES: tuple[str, ...] = (*(f"logvar_{c}" for c in _LOG_VOLS), *_RAW)
"""Columns of the daily level-feature matrix the linear members read."""
_VOL_FLOOR = 1e-3
LINEAR_FEATURES: tuple[str, ...] = (
    "logvar_rv_4h_1d", "logvar_rv_4h_7d", "logvar_rv_4h_30d", "logvar_rv_cc_7d",
    "logvar_rv_cc_30d", "logvar_rv_cc_90d", "logvar_parkinson_7d",
    "logvar_garman_klass_30d", "ret_7d", "ret_30d",
)  # fmt: skip
"""Inputs of the HAR-X members."""
DEFAULT_COMPONENTS: tuple[ComponentSpec, ...] = (
    ComponentSpec("har_x", "linear", LINEAR_FEATURES, ridge=1.0),
    ComponentSpec("har_x_normal", "linear", LINEAR_FEATURES, ridge=0.1,
                  regime_residuals="normal"),
    ComponentSpec("har", "linear", HAR_FEATURES, ridge=0.0, regime_residuals="normal"),
    ComponentSpec("garch", "garch"),
)  # fmt: skip
"""The pool: HAR-X (empirical and Gaussian residuals), HAR-RV, GARCH(1,1)-t."""


def level_features(features: pd.DataFrame) -> pd.DataFrame:
    """Daily inputs of the linear members from :func:`ml.features.build_daily_features`.

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


def future_log_variance(returns: FloatArray, max_h: int) -> FloatArray:
    """Target Y[t, h-1] = log(365/h sum_{i=1..h} r_{t+i}^2); NaN beyond the data."""
    from ml.labels import ANNUALIZATION

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
    """The pool's members and how its weights are fitted."""

    components: tuple[ComponentSpec, ...] = DEFAULT_COMPONENTS
    refit_every: int = 30
    """Days between the members' refits in the inner walk-forward."""
    min_train_days: int = 180
    """Usable days a member needs before its first inner refit."""
    weight_prior: float = 30.0
    """Dirichlet pseudo-count per member (towards equal weights), against past
    forecasts counted 1/h each (chosen on 2019-2020 validation origins: 1 -> 30
    lowered the mean log loss there from 0.611 to 0.608)."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        d = asdict(self)
        d["components"] = [
            {**c, "features": list(c["features"])} for c in d["components"]
        ]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> StructuralSpec:
        """Inverse of :meth:`to_dict`."""
        comps = tuple(
            ComponentSpec(**{**c, "features": tuple(c["features"])})
            for c in data["components"]  # type: ignore[attr-defined]
        )
        rest = {k: v for k, v in data.items() if k != "components"}
        return cls(components=comps, **rest)  # type: ignore[arg-type]


@dataclass
class _PanelArrays:
    """Per-panel arrays and the members' out-of-sample forecasts, computed once."""

    daily: FloatArray
    y: FloatArray
    y_fit: FloatArray
    rv: FloatArray
    """Realised annualised variance over (t, t+h] (the level's target)."""
    oos: dict[
        tuple[ComponentSpec, int, tuple[float, float]], tuple[FloatArray, FloatArray]
    ] = field(default_factory=dict)


_ARRAYS: dict[int, tuple[weakref.ref[Panel], _PanelArrays]] = {}


def _panel_arrays(panel: Panel) -> _PanelArrays:
    """Arrays of ``panel`` (cached while the panel lives)."""
    hit = _ARRAYS.get(id(panel))
    if hit is not None and hit[0]() is panel:
        return hit[1]
    for key in [k for k, (ref, _) in _ARRAYS.items() if ref() is None]:
        del _ARRAYS[key]
    h = len(panel.horizons)
    arrays = _PanelArrays(
        daily=level_features(panel.features).to_numpy(dtype="float64"),
        y=future_log_variance(panel.returns, h),
        y_fit=future_log_variance(np.sqrt(panel.rv_daily), h),
        rv=realized_variance_forward(panel.returns, h),
    )
    _ARRAYS[id(panel)] = (weakref.ref(panel), arrays)
    return arrays


def _training_rows(
    panel: Panel, a: _PanelArrays, cutoff: int
) -> tuple[IntArray, IntArray]:
    """(origin, horizon index) of every row whose target is known at ``cutoff``."""
    i = np.arange(len(panel.days))[:, None]
    h = np.asarray(panel.horizons)[None, :]
    keep = (i + h <= cutoff) & (i >= panel.first_usable)
    keep &= np.asarray(np.isfinite(a.daily).all(axis=1))[:, None]
    keep &= np.isfinite(a.y) & np.isfinite(a.y_fit)
    ii, jj = np.nonzero(keep)
    return ii.astype("int64"), jj.astype("int64")


def _fit_members(
    panel: Panel, specs: tuple[ComponentSpec, ...], cutoff: int
) -> list[Component]:
    a = _panel_arrays(panel)
    rows = _training_rows(panel, a, cutoff)
    names = list(LEVEL_FEATURES)
    return [
        fit_component(
            s, a.daily, panel.returns, rows, a.y[rows], a.y_fit[rows], names, cutoff
        )
        for s in specs
    ]


def _member_proba(
    comp: Component,
    panel: Panel,
    origins: IntArray,
    thresholds: tuple[float, float],
    floor: float = PROB_FLOOR,
) -> FloatArray:
    a = _panel_arrays(panel)
    mu = comp.mu(a.daily, panel.returns, origins)
    k1, k2 = known_window_sums(panel.returns, origins, len(panel.horizons))
    return np.stack(
        [regime_probabilities(k1[:, j], k2[:, j], h, mu[:, j], comp.regime_resid[j],
                              thresholds, floor)
         for j, h in enumerate(panel.horizons)], axis=1,
    )  # fmt: skip


class StructuralForecaster:
    """Walk-forward wrapper: fit the pool at a cutoff, predict regimes and levels."""

    name = "structural"

    def __init__(self, spec: StructuralSpec | None = None) -> None:
        self.spec = spec or StructuralSpec()
        self.members_: list[Component] | None = None
        self.weights_: FloatArray | None = None
        """(H, K) pool weights per horizon (regime probabilities, log score)."""
        self.level_weights_: FloatArray | None = None
        """(H, 2K) combination weights per horizon of the members' expected variances,
        each calibrated two ways (level forecast, QLIKE): columns 2k and 2k + 1 are
        member k's ``var_factor`` and ``var_factor_4h``."""

    def fit(self, panel: Panel, cutoff: int) -> None:
        """Fit the members on targets known at ``cutoff`` and the pool weights on
        their out-of-sample forecasts before it."""
        self.members_ = _fit_members(panel, self.spec.components, cutoff)
        self.weights_, self.level_weights_ = self._fit_weights(panel, cutoff)

    def _oos(
        self, panel: Panel, spec: ComponentSpec, r: int
    ) -> tuple[FloatArray, FloatArray]:
        """A member fitted at ``r``: probabilities (n, H, 3) and expected variances
        (n, H, 2), both calibrations, for origins r..r+refit_every-1."""
        a = _panel_arrays(panel)
        key = (spec, r, panel.thresholds)
        if key not in a.oos:
            (comp,) = _fit_members(panel, (spec,), r)
            origins = np.arange(r, min(r + self.spec.refit_every, len(panel.days)))
            mu = comp.mu(a.daily, panel.returns, origins)
            fs = [comp.var_factor, comp.var_factor_4h]
            var = np.stack([np.exp(mu) * np.asarray(f) for f in fs], axis=-1)
            a.oos[key] = (_member_proba(comp, panel, origins, panel.thresholds), var)
        return a.oos[key]

    def _fit_weights(self, panel: Panel, cutoff: int) -> tuple[FloatArray, FloatArray]:
        """(H, K) log-score pool weights and (H, 2K) QLIKE level weights.

        Notes:
            Each past forecast counts 1/h in the log-score fit: forecasts h days
            apart share most of their V30 window, so m of them carry about m/h
            independent outcomes, and ``weight_prior`` is weighed against that.
        """
        s = self.spec
        a = _panel_arrays(panel)
        first = panel.first_usable + s.min_train_days
        starts = list(range(cutoff - s.refit_every, first - 1, -s.refit_every))[::-1]
        n_h, k = len(panel.horizons), len(s.components)
        p_true: list[list[FloatArray]] = [[] for _ in range(n_h)]
        lv: list[list[tuple[FloatArray, FloatArray]]] = [[] for _ in range(n_h)]
        for r in starts:
            origins = np.arange(r, r + s.refit_every)
            out = [self._oos(panel, c, r) for c in s.components]
            for j, h in enumerate(panel.horizons):
                y = panel.labels[origins, j]
                ok = (origins + h <= cutoff) & (y >= 0)
                if ok.any():
                    p_true[j].append(np.stack(
                        [p[ok, j, :][np.arange(ok.sum()), y[ok]] for p, _ in out], axis=1
                    ))  # fmt: skip
                    lv[j].append(
                        (
                            a.rv[origins[ok], j],
                            np.concatenate([v[ok, j] for _, v in out], axis=1),
                        )
                    )
        equal = np.full(k, 1.0 / k)
        w = np.stack([
            pool_weights(pt := np.concatenate(rows), s.weight_prior,
                         row_weight=np.full(len(pt), 1.0 / h)) if rows else equal
            for rows, h in zip(p_true, panel.horizons, strict=True)
        ])  # fmt: skip
        wl = np.stack([
            qlike_weights(np.concatenate([x for x, _ in rows]),
                          np.concatenate([f for _, f in rows])) if rows else np.full(2 * k, 0.5 / k)
            for rows in lv
        ])  # fmt: skip
        return w, wl

    def _fitted(self) -> tuple[list[Component], FloatArray]:
        if (
            self.members_ is None
            or self.weights_ is None
            or self.level_weights_ is None
        ):
            raise RuntimeError("StructuralForecaster: call fit() before predicting")
        return self.members_, self.weights_

    def predict_mu(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Pool-weighted location of Y for origins x horizons: (n, H)."""
        members, w = self._fitted()
        a = _panel_arrays(panel)
        mus = [m.mu(a.daily, panel.returns, np.asarray(origins)) for m in members]
        return np.asarray(sum(w[None, :, k] * mu for k, mu in enumerate(mus)))

    def predict_proba(
        self,
        panel: Panel,
        origins: IntArray,
        thresholds: tuple[float, float] | None = None,
        floor: float = PROB_FLOOR,
    ) -> FloatArray:
        """Regime probabilities (n, H, 3) at ``thresholds`` (default: the panel's);
        ``floor`` as in :func:`ml.distribution.regime_probabilities`."""
        members, w = self._fitted()
        th = thresholds or panel.thresholds
        o = np.asarray(origins)
        probs = [_member_proba(m, panel, o, th, floor) for m in members]
        return np.asarray(sum(w[None, :, k, None] * p for k, p in enumerate(probs)))

    def predict_level(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Level forecast (n, H, 4): E[vol], q10, q90, E[variance] (annualised)."""
        members, _ = self._fitted()
        w = self.level_weights_
        assert w is not None
        a = _panel_arrays(panel)
        mus = [m.mu(a.daily, panel.returns, np.asarray(origins)) for m in members]
        out = []
        for j in range(len(panel.horizons)):
            wm = w[j].reshape(len(members), 2)
            lv = mixture_level([mu[:, j] for mu in mus],
                               [m.level_resid[j] for m in members], wm.sum(axis=1))  # fmt: skip
            lv[:, 3] = sum(
                np.exp(mus[k][:, j])
                * (wm[k, 0] * m.var_factor[j] + wm[k, 1] * m.var_factor_4h[j])
                for k, m in enumerate(members)
            )
            out.append(lv)
        return np.stack(out, axis=1)


def structural_to_dict(model: StructuralForecaster) -> dict[str, object]:
    """JSON-ready form of a fitted structural model (the serving artifact)."""
    members, w = model._fitted()
    return {
        "version": ARTIFACT_VERSION,
        "spec": model.spec.to_dict(),
        "level_features": list(LEVEL_FEATURES),
        "members": [m.to_dict() for m in members],
        "weights": w.tolist(),
        "level_weights": np.asarray(model.level_weights_).tolist(),
    }


def structural_from_dict(data: dict[str, object]) -> StructuralForecaster:
    """Rebuild a fitted structural model from :func:`structural_to_dict` output.

    Raises:
        ValueError: The artifact is not of :data:`ARTIFACT_VERSION`.
    """
    if data.get("version") != ARTIFACT_VERSION:
        raise ValueError(
            f"structural.json version: got {data.get('version')!r}, expected "
            f"{ARTIFACT_VERSION} (re-run the training pipeline to rebuild it)"
        )
    names = list(data["level_features"])  # type: ignore[call-overload]
    if names != list(LEVEL_FEATURES):
        raise ValueError(
            f"structural.json level_features: got {names}, expected {list(LEVEL_FEATURES)}"
        )
    model = StructuralForecaster(StructuralSpec.from_dict(data["spec"]))  # type: ignore[arg-type]
    model.members_ = [Component.from_dict(m, names) for m in data["members"]]  # type: ignore[attr-defined]
    model.weights_ = np.asarray(data["weights"], dtype="float64")
    model.level_weights_ = np.asarray(data["level_weights"], dtype="float64")
    return model


def forecast_asof(
    model: StructuralForecaster,
    daily_candles: pd.DataFrame,
    candles_4h: pd.DataFrame | None,
    asof: pd.Timestamp,
    thresholds: tuple[float, float],
    max_horizon: int = 30,
    floor: float = PROB_FLOOR,
) -> pd.DataFrame:
    """Serving-time forecast for one as-of day from candles up to and including it
    (``floor``: see :func:`ml.distribution.regime_probabilities`).

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
    p = model.predict_proba(panel, origin, floor=floor)[0]
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

    Holds each member's mu and the known-window sums K1, K2 for each (day, horizon)
    of a panel, each member's residual CDF tables, the level forecasts and the
    probabilities at the panel's thresholds, so a request at those is a lookup and
    one at other thresholds the exact integration of
    :func:`ml.distribution.regime_probabilities` per member (about 25 ms for 30
    horizons on one core). Results equal :func:`forecast_asof` on the candles cut at
    that day.
    """

    def __init__(self, model: StructuralForecaster, panel: Panel) -> None:
        members, self.weights = model._fitted()
        self.model, self.days = model, panel.days
        first = panel.first_usable
        origins = np.arange(first, len(panel.days))
        self.first = first
        a = _panel_arrays(panel)
        self.mus = [m.mu(a.daily, panel.returns, origins) for m in members]
        self.k1, self.k2 = known_window_sums(
            panel.returns, origins, len(panel.horizons)
        )
        self.level = model.predict_level(panel, origins)
        self.tables = [[residual_table(r) for r in m.regime_resid] for m in members]
        self.thresholds = panel.thresholds
        self.proba = model.predict_proba(panel, origins)
        """(n, H, 3) probabilities at the panel's thresholds, the usual request."""

    def forecast(
        self,
        day: pd.Timestamp,
        horizons: list[int],
        thresholds: tuple[float, float],
        floor: float = PROB_FLOOR,
    ) -> tuple[FloatArray, FloatArray]:
        """(probabilities (len(horizons), 3), level (len(horizons), 3): mean, q10, q90);
        ``floor`` as in :func:`ml.distribution.regime_probabilities`.

        Raises:
            KeyError: ``day`` is not a day of the table (or lies in the warm-up).
        """
        loc = self.days.get_loc(day)
        if not isinstance(loc, (int, np.integer)):
            raise KeyError(day)
        i = int(loc) - self.first
        if i < 0:
            raise KeyError(day)
        level = self.level[i, [h - 1 for h in horizons], :3]
        if np.allclose(thresholds, self.thresholds) and floor == PROB_FLOOR:
            return self.proba[i, [h - 1 for h in horizons]], level
        sl = slice(i, i + 1)
        p = np.stack([
            sum(self.weights[h - 1, k] * regime_probabilities(
                self.k1[sl, h - 1], self.k2[sl, h - 1], h, mu[sl, h - 1],
                self.tables[k][h - 1], thresholds, floor)[0]
                for k, mu in enumerate(self.mus))
            for h in horizons
        ])  # fmt: skip
        return p, level
