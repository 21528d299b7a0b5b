"""Members of the structural pool: each forecasts the location of future log variance.

A component maps origin t and horizon h to ``mu``, the location of

    Y = log(365 / h * sum_{i=1..h} r_{t+i}^2)

(see :func:`ml.structural.future_log_variance`), plus two residual distributions of
Y - mu per horizon, kept as quantiles:

- ``regime_resid``: used for the V30 regime probabilities;
- ``level_resid``: used for the volatility level; always the empirical residuals
  against the squared-return target, which is what the level is scored on.

Kinds:

- ``linear``: one ridge regression per horizon on a set of daily log-variance
  features (:data:`ml.structural.LEVEL_FEATURES`), fitted on the 4-hour realised
  variance of the same days (smoother than r^2, same level). With
  ``features = HAR_FEATURES`` and ``ridge = 0`` this is HAR-RV (Corsi 2009).
- ``garch``: GARCH(1,1) with Student-t shocks fitted by arch on returns up to the
  cutoff; mu is the log of its expected mean variance over (t, t+h]:
  E[sigma^2_{t+k}] = v + (alpha + beta)^(k-1) (sigma^2_{t+1} - v),
  v = omega / (1 - alpha - beta), plus the squared mean return.

Regime residuals are ``empirical`` (quantiles of Y - mu, kernel-smoothed when
integrated) or ``normal`` (a Gaussian with the mean and standard deviation of the
residuals against the 4-hour target, as in the HAR baseline).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

import numpy as np
from scipy.special import ndtri

from ml._typing import FloatArray, IntArray
from ml.labels import ANNUALIZATION
from ml.vol_baselines import GarchParams, garch_variance

__all__ = [
    "HAR_FEATURES",
    "N_RESIDUAL_QUANTILES",
    "Component",
    "ComponentKind",
    "ComponentSpec",
    "LinearLevelModel",
    "ResidualKind",
    "fit_component",
    "fit_garch",
    "fit_linear",
    "garch_mu",
]

ComponentKind = Literal["linear", "garch"]
ResidualKind = Literal["empirical", "normal"]
N_RESIDUAL_QUANTILES = 200
"""Residual distributions are kept as this many quantiles per horizon."""
_LEVELS = (np.arange(N_RESIDUAL_QUANTILES) + 0.5) / N_RESIDUAL_QUANTILES
HAR_FEATURES: tuple[str, ...] = (
    "logvar_rv_4h_1d", "logvar_rv_4h_7d", "logvar_rv_4h_30d",
)  # fmt: skip
"""Daily, weekly and monthly log realised variance: the HAR-RV regressors."""


@dataclass(frozen=True)
class ComponentSpec:
    """What one pool member is: its kind, inputs, penalty and residual form."""

    name: str
    kind: ComponentKind = "linear"
    features: tuple[str, ...] = ()
    """Level-feature names (``linear`` only)."""
    ridge: float = 1.0
    """Ridge penalty per row on standardised columns (``linear`` only)."""
    regime_residuals: ResidualKind = "empirical"

    def __post_init__(self) -> None:
        if self.kind not in get_args(ComponentKind):
            raise ValueError(
                f"kind: got {self.kind!r}, expected one of {get_args(ComponentKind)}"
            )
        if self.regime_residuals not in get_args(ResidualKind):
            raise ValueError(
                f"regime_residuals: got {self.regime_residuals!r}, expected one of "
                f"{get_args(ResidualKind)}"
            )
        if self.kind == "linear" and not self.features:
            raise ValueError(
                f"features: component {self.name!r} is linear but has none"
            )


@dataclass(frozen=True)
class LinearLevelModel:
    """Per-horizon ridge regressions; ``predict`` takes ``level_design`` rows."""

    columns: IntArray
    """Positions of the component's features in a daily level-feature row."""
    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    """(H, 1 + k) intercept and coefficients on standardised columns."""

    def predict_daily(self, daily: FloatArray, origins: IntArray) -> FloatArray:
        """mu for origins x horizons (n, H) from daily level-feature rows."""
        z = (daily[np.asarray(origins)][:, self.columns] - self.mean) / self.scale
        return np.asarray(self.coef[:, 0][None, :] + z @ self.coef[:, 1:].T)


def fit_linear(
    daily: FloatArray, columns: IntArray, rows: tuple[IntArray, IntArray],
    y: FloatArray, ridge: float, n_h: int,
) -> LinearLevelModel:  # fmt: skip
    """Ridge per horizon on (origin, horizon) rows.

    Args:
        daily: Daily level-feature matrix (n_days, k_all).
        columns: Which of its columns are inputs.
        rows: (origin indices, horizon indices 0..H-1) of the training rows.
        y: Target of each row.
        ridge: Penalty per row on standardised columns (intercept unpenalised).
        n_h: Number of horizons.
    """
    ii, jj = rows
    raw = daily[:, columns]
    used = raw[np.unique(ii)]
    mean, scale = used.mean(axis=0), used.std(axis=0) + 1e-12
    z = (raw - mean) / scale
    coef = np.zeros((n_h, 1 + len(columns)))
    for j in range(n_h):
        sel = ii[jj == j]
        a = np.column_stack([np.ones(len(sel)), z[sel]])
        pen = ridge * len(sel) * np.eye(a.shape[1])
        pen[0, 0] = 0.0
        coef[j] = np.linalg.solve(a.T @ a + pen, a.T @ y[jj == j])
    return LinearLevelModel(columns=columns, mean=mean, scale=scale, coef=coef)


def garch_mu(
    returns: FloatArray, p: GarchParams, origins: IntArray, n_h: int
) -> FloatArray:
    """Log expected annualised mean variance over (t, t+h]: (len(origins), n_h).

    Notes:
        sigma^2_{t+1} from :func:`ml.vol_baselines.garch_variance` over r_1..r_t
        (percent units); the k-step expectation decays to v at rate alpha + beta;
        E[r^2] = E[sigma^2] + mu^2. Only returns up to t are read.
    """
    sigma2 = garch_variance(100.0 * np.nan_to_num(np.asarray(returns)[1:]), p)
    s1 = sigma2[np.asarray(origins)]  # variance of r_{t+1} given r_1..r_t
    phi = p.alpha + p.beta
    v = p.omega / max(1.0 - phi, 1e-6)
    ev = v + phi ** np.arange(n_h)[None, :] * (s1[:, None] - v) + p.mu**2
    mean_var = np.cumsum(ev, axis=1) / np.arange(1, n_h + 1)[None, :] / 1e4
    return np.asarray(np.log(mean_var * ANNUALIZATION), dtype="float64")


def fit_garch(returns: FloatArray, cutoff: int) -> GarchParams:
    """GARCH(1,1)-t by maximum likelihood on r_1..r_cutoff (arch, percent units)."""
    from arch import arch_model  # training only: serving never fits

    r = 100.0 * np.asarray(returns[1 : cutoff + 1], dtype="float64")
    model = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, dist="t")
    res = model.fit(disp="off", show_warning=False)
    prm = res.params
    return GarchParams(
        mu=float(prm["mu"]), omega=float(prm["omega"]), alpha=float(prm["alpha[1]"]),
        beta=float(prm["beta[1]"]), nu=float(prm["nu"]),
        backcast=float(model.volatility.backcast(model.resids(model.starting_values()))),
    )  # fmt: skip


@dataclass
class Component:
    """A fitted pool member: location model and per-horizon residual quantiles."""

    spec: ComponentSpec
    model: LinearLevelModel | GarchParams
    regime_resid: list[FloatArray] = field(default_factory=list)
    level_resid: list[FloatArray] = field(default_factory=list)
    var_factor: list[float] = field(default_factory=list)
    """Per horizon E[365/h S] / exp(mu), calibrated on squared daily returns (the
    level's target): the mean of exp(residual) against Y."""
    var_factor_4h: list[float] = field(default_factory=list)
    """The same calibrated on 4-hour realised variance (smoother, but its ratio to
    squared daily returns drifts); the pool's QLIKE weights choose between them."""

    def mu(
        self, daily: FloatArray, returns: FloatArray, origins: IntArray
    ) -> FloatArray:
        """Location of Y for origins x horizons: (len(origins), H)."""
        n_h = len(self.level_resid)
        if isinstance(self.model, LinearLevelModel):
            return self.model.predict_daily(daily, origins)
        return garch_mu(returns, self.model, origins, n_h)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (serving artifact)."""
        if isinstance(self.model, LinearLevelModel):
            model: dict[str, object] = {
                "mean": self.model.mean.tolist(), "scale": self.model.scale.tolist(),
                "coef": self.model.coef.tolist(),
            }  # fmt: skip
        else:
            model = dict(self.model._asdict())
        return {
            "spec": {**asdict(self.spec), "features": list(self.spec.features)},
            "model": model,
            "regime_residuals": [r.tolist() for r in self.regime_resid],
            "level_residuals": [r.tolist() for r in self.level_resid],
            "var_factor": list(self.var_factor),
            "var_factor_4h": list(self.var_factor_4h),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object], level_features: list[str]) -> Component:
        """Inverse of :meth:`to_dict`; ``level_features`` names the daily columns."""
        s = dict(data["spec"])  # type: ignore[call-overload]
        spec = ComponentSpec(**{**s, "features": tuple(s["features"])})
        m = dict(data["model"])  # type: ignore[call-overload]
        model: LinearLevelModel | GarchParams
        if spec.kind == "linear":
            model = LinearLevelModel(
                columns=np.array([level_features.index(c) for c in spec.features]),
                mean=np.asarray(m["mean"], dtype="float64"),
                scale=np.asarray(m["scale"], dtype="float64"),
                coef=np.asarray(m["coef"], dtype="float64"),
            )
        else:
            model = GarchParams(**{k: float(v) for k, v in m.items()})
        as_arrays = [
            [np.asarray(r, dtype="float64") for r in data[key]]  # type: ignore[attr-defined]
            for key in ("regime_residuals", "level_residuals")
        ]
        factors = [
            [float(v) for v in data[key]]  # type: ignore[attr-defined]
            for key in ("var_factor", "var_factor_4h")
        ]
        return cls(spec, model, as_arrays[0], as_arrays[1], *factors)


def _quantiles(e: FloatArray) -> FloatArray:
    return np.asarray(np.quantile(e, _LEVELS), dtype="float64")


def fit_component(
    spec: ComponentSpec, daily: FloatArray, returns: FloatArray,
    rows: tuple[IntArray, IntArray], y: FloatArray, y_fit: FloatArray,
    level_features: list[str], cutoff: int,
) -> Component:  # fmt: skip
    """Fit one member on training rows whose targets are known at ``cutoff``.

    Args:
        spec: The member.
        daily: Daily level-feature matrix (columns ``level_features``).
        returns: Daily log returns (only r_1..r_cutoff are read by the GARCH fit).
        rows: (origin, horizon index) of every training row.
        y: Squared-return target Y of each row (residuals, level).
        y_fit: 4-hour target of each row (what ``linear`` members fit).
        level_features: Names of ``daily``'s columns.
        cutoff: Day index of the fit.
    """
    ii, jj = rows
    n_h = int(jj.max()) + 1
    model: LinearLevelModel | GarchParams
    if spec.kind == "linear":
        cols = np.array([level_features.index(c) for c in spec.features])
        model = fit_linear(daily, cols, rows, y_fit, spec.ridge, n_h)
    else:
        model = fit_garch(returns, cutoff)
    comp = Component(spec, model, level_resid=[np.zeros(1)] * n_h)
    days = np.unique(ii)
    mu_rows = comp.mu(daily, returns, days)
    pos = np.searchsorted(days, ii)
    fitted = mu_rows[pos, jj]
    e, e_fit = y - fitted, y_fit - fitted
    comp.level_resid = [_quantiles(e[jj == j]) for j in range(n_h)]
    comp.var_factor = [float(np.mean(np.exp(e[jj == j]))) for j in range(n_h)]
    comp.var_factor_4h = [float(np.mean(np.exp(e_fit[jj == j]))) for j in range(n_h)]
    if spec.regime_residuals == "empirical":
        comp.regime_resid = list(comp.level_resid)
    else:
        z = ndtri(_LEVELS)
        comp.regime_resid = [
            np.asarray(e_fit[jj == j].mean() + e_fit[jj == j].std() * z)
            for j in range(n_h)
        ]
    return comp
