"""Volatility-model baselines: HAR-RV (Corsi 2009) and GARCH(1,1) with Student-t.

Both forecast the distribution of future daily variance and turn it into (a) the
regime distribution of V30 on day t+h, combining the returns of V30(t+h)'s window
already known at t with the forecast of the h unknown ones, and (b) the level of
annualised realised volatility over (t, t+h] with an 80% interval.

Conventions: r_t daily log return (fraction), V30 = std(ddof=1) of 30 returns x
sqrt(365), realised vol over (t, t+h] = sqrt(365/h * sum r^2) (zero-mean, like
:func:`ml.labels.realized_vol_forward`).
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.stats import norm

from ml._typing import FloatArray, IntArray
from ml.labels import ANNUALIZATION, V30_WINDOW
from ml.panel import Panel

__all__ = [
    "GarchParams",
    "GarchTForecaster",
    "HARForecaster",
    "garch_variance",
    "har_design",
    "known_window_sums",
    "path_v30",
    "smoothed_frequencies",
]

GarchMean = Literal["Constant", "Zero"]
"""Mean model of the GARCH baseline (arch's names)."""
LEVEL_Q = (0.10, 0.90)
"""Quantiles of the 80% level interval."""
_HAR_WINDOWS = (1, 7, 30)


def smoothed_frequencies(counts: np.ndarray) -> FloatArray:
    """Add-one (Laplace) smoothed frequencies along the last axis: (n_k + 1)/(n + K)."""
    c = np.asarray(counts, dtype="float64") + 1.0
    return c / c.sum(axis=-1, keepdims=True)


def known_window_sums(
    returns: FloatArray, origins: IntArray, max_h: int
) -> tuple[FloatArray, FloatArray]:
    """Sum and sum of squares of V30(t+h)'s returns already known at origin t.

    Returns:
        (K1, K2), each (len(origins), max_h): sums over r_{t+h-29..t} (30 - h
        returns; empty, so 0, for h >= 30). Only returns up to t are read.
    """
    r = np.nan_to_num(np.asarray(returns, dtype="float64"))
    c1 = np.concatenate([[0.0], np.cumsum(r)])
    c2 = np.concatenate([[0.0], np.cumsum(r**2)])
    t = np.asarray(origins)[:, None]
    start = np.minimum(t + np.arange(1, max_h + 1)[None, :] - (V30_WINDOW - 1), t + 1)
    return c1[t + 1] - c1[start], c2[t + 1] - c2[start]


def path_v30(returns: FloatArray, origins: IntArray, future: FloatArray) -> FloatArray:
    """V30 on day t+h per path, from known returns and simulated future ones.

    Args:
        returns: Daily log returns of the panel (only r_{..t} are read for origin t).
        origins: Origin day indices t, shape (n,).
        future: Log returns r_{t+1..t+H} per path, shape (n, n_paths, H).

    Returns:
        V30(t+h), shape (n, n_paths, H): std (ddof=1) of r_{t+h-29..t} and
        future[..., :h], x sqrt(365).
    """
    k1, k2 = known_window_sums(returns, origins, future.shape[2])
    s1 = k1[:, None, :] + np.cumsum(future, axis=2)
    s2 = k2[:, None, :] + np.cumsum(future**2, axis=2)
    var = np.maximum(s2 - s1**2 / V30_WINDOW, 0.0) / (V30_WINDOW - 1)
    return np.asarray(np.sqrt(var * ANNUALIZATION), dtype="float64")


def _regime_probs(cdf_low: FloatArray, cdf_high: FloatArray, eps: float) -> FloatArray:
    p = np.stack([cdf_low, cdf_high - cdf_low, 1.0 - cdf_high], axis=-1)
    p = np.clip(p, 0.0, 1.0)
    return (p + eps) / (p.sum(axis=-1, keepdims=True) + 3 * eps)


def _safe_log(x: FloatArray) -> FloatArray:
    """Natural log, NaN where x <= 0 or NaN (no RuntimeWarning)."""
    ok = np.isfinite(x) & (x > 0)
    return np.log(np.where(ok, x, 1.0)) + np.where(ok, 0.0, np.nan)


def har_design(rv_daily: FloatArray) -> FloatArray:
    """HAR regressors per day: [1, log RV_d, log RV_w, log RV_m], shape (n, 4).

    Notes:
        RV_w / RV_m are the means of daily realised variance (not annualised) over
        the 7 / 30 days ending on t (crypto trades 7 days a week); NaN in warm-up.
    """
    rv = np.asarray(rv_daily, dtype="float64")
    c = np.concatenate([[0.0], np.cumsum(np.nan_to_num(rv))])
    n = len(rv)
    cols = [np.ones(n)]
    for w in _HAR_WINDOWS:
        m = np.full(n, np.nan)
        m[w - 1 :] = (c[w:] - c[:-w]) / w
        cols.append(_safe_log(m))
    return np.column_stack(cols)


class HARForecaster:
    """HAR-RV per horizon, mapped to the V30 regime and the volatility level.

    Notes:
        For each h: log(mean_{i=1..h} RV_{t+i}) = b0 + b1 log RV_d + b2 log RV_w +
        b3 log RV_m + e, OLS on origins with t + h <= cutoff; sigma_h = residual std.
        The sum of squared future returns is taken lognormal:
        S_fut = h exp(Y), Y ~ N(mu_h(t), sigma_h^2).
        V30(t+h)^2 x 29/365 = sum r^2 - (sum r)^2/30 over the window. With K1, K2 the
        sum and sum of squares of the known returns and the future returns taken
        zero-mean and uncorrelated (E[(sum r_fut)^2] = S_fut, cross term 0), this is
        approximated by A + (29/30) S_fut, A = K2 - K1^2/30, so
        P(V30 <= c) = Phi((log(30/29 (c^2 29/365 - A) / h) - mu) / sigma) (0 when
        the argument of log is <= 0). Level: sqrt(365 exp(Y)), mean
        sqrt(365) exp(mu/2 + sigma^2/8), 80% interval from z = +-1.2816.
    """

    name = "har_rv"

    def __init__(self, eps: float = 1e-4) -> None:
        self.eps = eps
        self.coef_: FloatArray | None = None
        self.sigma_: FloatArray | None = None

    def fit(self, panel: Panel, cutoff: int) -> None:
        """OLS per horizon on (origin, target) pairs whose target is known at cutoff."""
        x = har_design(panel.rv_daily)
        c = np.concatenate([[0.0], np.cumsum(np.nan_to_num(panel.rv_daily))])
        hs = list(panel.horizons)
        coef, sigma = np.zeros((len(hs), x.shape[1])), np.zeros(len(hs))
        for j, h in enumerate(hs):
            t = np.arange(panel.first_usable, cutoff - h + 1)
            y = _safe_log((c[t + h + 1] - c[t + 1]) / h)
            ok = np.isfinite(y) & np.isfinite(x[t]).all(axis=1)
            b, *_ = np.linalg.lstsq(x[t[ok]], y[ok], rcond=None)
            resid = y[ok] - x[t[ok]] @ b
            coef[j], sigma[j] = b, np.sqrt(resid @ resid / (ok.sum() - x.shape[1]))
        self.coef_, self.sigma_ = coef, sigma

    def _mu(self, panel: Panel, origins: IntArray) -> FloatArray:
        if self.coef_ is None or self.sigma_ is None:
            raise RuntimeError("HARForecaster: call fit() before predicting")
        return har_design(panel.rv_daily)[origins] @ self.coef_.T

    def predict_proba(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Regime probabilities (n, H, 3) at ``panel.thresholds``."""
        mu = self._mu(panel, origins)
        assert self.sigma_ is not None
        h = np.asarray(panel.horizons, dtype="float64")[None, :]
        k1, k2 = known_window_sums(panel.returns, origins, len(panel.horizons))
        a = k2 - k1**2 / V30_WINDOW
        w = V30_WINDOW / (V30_WINDOW - 1)

        def cdf(c: float) -> FloatArray:
            room = w * (c**2 * (V30_WINDOW - 1) / ANNUALIZATION - a)
            z = np.log(np.where(room > 0, room, 1.0) / h) - mu
            return np.where(room > 0, norm.cdf(z / self.sigma_), 0.0)

        low, high = panel.thresholds
        return _regime_probs(cdf(low), cdf(high), self.eps)

    def predict_level(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Annualised realised vol over (t, t+h]: (n, H, 3) = mean, q10, q90."""
        mu = self._mu(panel, origins)
        s = self.sigma_
        assert s is not None
        z = norm.ppf(LEVEL_Q[1])
        root = np.sqrt(ANNUALIZATION)
        return np.stack(
            [root * np.exp(mu / 2 + s**2 / 8),
             root * np.exp((mu - z * s) / 2),
             root * np.exp((mu + z * s) / 2)], axis=-1,
        )  # fmt: skip


class GarchParams(NamedTuple):
    """GARCH(1,1)-t parameters in arch's units (returns in percent)."""

    mu: float
    omega: float
    alpha: float
    beta: float
    nu: float
    backcast: float


def garch_variance(r_pct: FloatArray, p: GarchParams) -> FloatArray:
    """Conditional variances of a GARCH(1,1), one step past the data.

    Args:
        r_pct: Returns in percent (100 x log return), no NaN.
        p: Parameters; ``backcast`` seeds the recursion as in arch.

    Returns:
        sigma2 of length len(r_pct) + 1: sigma2[i] is the variance of r_pct[i]
        given r_pct[:i]; the last entry is the one-step forecast.

    Notes:
        sigma2[0] = omega + (alpha + beta) backcast; sigma2[i] = omega +
        alpha (r[i-1] - mu)^2 + beta sigma2[i-1]: a linear filter (lfilter).
    """
    e2 = (np.asarray(r_pct, dtype="float64") - p.mu) ** 2
    drive = np.concatenate([[p.omega + p.alpha * p.backcast], p.omega + p.alpha * e2])
    out, _ = lfilter([1.0], [1.0, -p.beta], drive, zi=[p.beta * p.backcast])
    return np.asarray(out, dtype="float64")


class GarchTForecaster:
    """GARCH(1,1) with Student-t innovations (arch), Monte-Carlo to V30 and levels.

    Notes:
        Fit: ``arch_model(100 r, mean="Constant", vol="GARCH", p=1, q=1, dist="t")``
        on r_1..r_cutoff (all history); the backcast that starts the recursion is
        arch's (from the residuals at its starting values). Origin t: the variance
        of r_{t+1} comes from
        :func:`garch_variance` with the fitted parameters over r_1..r_t (no refit),
        then ``n_paths`` paths of 30 days are simulated with unit-variance t shocks
        z = t_nu sqrt((nu - 2)/nu) and sigma2 updated by the same recursion. Per
        path V30(t+h) is the std (ddof=1) of the known returns r_{t+h-29..t} and the
        simulated r_{t+1..t+h}, x sqrt(365); probabilities are add-one smoothed
        path frequencies. The RNG of origin t is seeded by (seed, calendar day), so
        a forecast does not depend on which other origins are predicted.
    """

    name = "garch_t"

    def __init__(
        self, n_paths: int = 2000, seed: int = 7, mean: GarchMean = "Constant"
    ) -> None:
        if mean not in get_args(GarchMean):
            raise ValueError(
                f"mean: got {mean!r}, expected one of {get_args(GarchMean)}"
            )
        self.n_paths, self.seed, self.mean = n_paths, seed, mean
        self.params_: GarchParams | None = None

    def fit(self, panel: Panel, cutoff: int) -> None:
        """Maximum likelihood on returns 1..cutoff (percent)."""
        from arch import arch_model  # here: serving imports this module without arch

        r = 100.0 * np.asarray(panel.returns[1 : cutoff + 1], dtype="float64")
        model = arch_model(r, mean=self.mean, vol="GARCH", p=1, q=1, dist="t")
        res = model.fit(disp="off", show_warning=False)
        prm = res.params
        mu = float(prm["mu"]) if "mu" in prm else 0.0
        self.params_ = GarchParams(
            mu=mu, omega=float(prm["omega"]), alpha=float(prm["alpha[1]"]),
            beta=float(prm["beta[1]"]), nu=float(prm["nu"]),
            backcast=float(model.volatility.backcast(model.resids(model.starting_values()))),
        )  # fmt: skip

    def simulate(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Simulated daily log returns r_{t+1..t+H}: (len(origins), n_paths, H)."""
        p = self.params_
        if p is None:
            raise RuntimeError("GarchTForecaster: call fit() before predicting")
        origins = np.asarray(origins)
        sigma2 = garch_variance(100.0 * np.nan_to_num(panel.returns[1:]), p)
        s2 = np.repeat(sigma2[origins][:, None], self.n_paths, axis=1)  # var of r_{t+1}
        n_h = len(panel.horizons)
        z = np.stack([self._shocks(panel.days[t], n_h) for t in origins])
        out = np.empty((len(origins), self.n_paths, n_h))
        for k in range(n_h):
            eps = np.sqrt(s2) * z[:, :, k]
            out[:, :, k] = (p.mu + eps) / 100.0
            s2 = p.omega + p.alpha * eps**2 + p.beta * s2
        return out

    def _shocks(self, day: pd.Timestamp, n_h: int) -> FloatArray:
        """Unit-variance t shocks (n_paths, n_h), seeded by (seed, days since 1970)."""
        assert self.params_ is not None
        nu = self.params_.nu
        epoch_day = (pd.Timestamp(day) - pd.Timestamp("1970-01-01")).days
        rng = np.random.default_rng([self.seed, epoch_day])
        return rng.standard_t(nu, size=(self.n_paths, n_h)) * np.sqrt((nu - 2.0) / nu)

    def predict_proba(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Regime probabilities (n, H, 3) from simulated V30 paths."""
        out = []
        for block in np.array_split(np.asarray(origins), max(1, len(origins) // 32)):
            v30 = path_v30(panel.returns, block, self.simulate(panel, block))
            low, high = panel.thresholds
            counts = np.stack(
                [(v30 <= low).sum(axis=1), ((v30 > low) & (v30 <= high)).sum(axis=1),
                 (v30 > high).sum(axis=1)], axis=-1,
            )  # fmt: skip
            out.append(smoothed_frequencies(counts))
        return np.concatenate(out)

    def predict_level(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Annualised realised vol over (t, t+h]: (n, H, 3) = mean, q10, q90."""
        out = []
        for block in np.array_split(np.asarray(origins), max(1, len(origins) // 32)):
            sim = self.simulate(panel, block)
            h = np.arange(1, sim.shape[2] + 1)
            rv = np.sqrt(np.cumsum(sim**2, axis=2) * ANNUALIZATION / h)
            q = np.quantile(rv, LEVEL_Q, axis=1)
            out.append(np.stack([rv.mean(axis=1), q[0], q[1]], axis=-1))
        return np.concatenate(out)
