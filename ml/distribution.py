"""From a forecast of future variance to V30 regime probabilities and volatility levels.

Pure functions shared by the walk-forward model, the backtest and serving. The
forecast of the h future daily log returns r_{t+1..t+h} of origin t is a location
``mu`` and a residual distribution (quantiles ``resid``) of

    Y = log(365 / h * S),   S = sum_{i=1..h} r_{t+i}^2      (annualised log variance)

so S = h / 365 * exp(mu + e), e drawn from the residual distribution.

V30 on day t+h decomposes exactly into the known part of its window and S:

    V30(t+h)^2 * 29 / 365 = (K2 + S) - (K1 + F) ^ 2 / 30

with K1, K2 the sum and sum of squares of the 30 - h returns r_{t+h-29..t} known at t
and F = sum of the future returns. Writing F = u sqrt(S), u is the "direction" of the
future path: for spherically symmetric returns (any common volatility scale) it is
independent of S with u^2 / h ~ Beta(1/2, (h-1)/2) and a random sign (u = +-1 for
h = 1). Given u, V30 <= c is a quadratic inequality in y = sqrt(S), so
P(V30 <= c) = E_u[F_S(y2^2) - F_S(y1^2)] with the roots y1 <= y2 (clipped at 0); the
expectation over u uses fixed quantile nodes. No simulation: the result is smooth and
monotone in c, so any thresholds can be applied at prediction time.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import ndtr
from scipy.stats import beta as beta_dist

from ml._typing import FloatArray
from ml.labels import ANNUALIZATION, V30_WINDOW, check_thresholds

__all__ = [
    "LEVEL_QUANTILES",
    "ANCHOR_FLOOR",
    "N_DIRECTION_NODES",
    "PROB_FLOOR",
    "anchor_probabilities",
    "direction_nodes",
    "level_forecast",
    "mixture_level",
    "pool_weights",
    "qlike_weights",
    "regime_probabilities",
    "residual_cdf",
    "residual_table",
    "v30_cdf",
]

LEVEL_QUANTILES = (0.10, 0.90)
"""Quantiles of the 80% interval of the level forecast."""
N_DIRECTION_NODES = 8
"""Beta quantile nodes of u^2 / h (each used with both signs)."""
PROB_FLOOR = 1e-4
"""Floor of the structural regime probabilities (before renormalising)."""
ANCHOR_FLOOR = 1e-6
"""Floor of the structural probabilities :func:`anchor_probabilities` reads.

The carried tail is the classifier's times the model's tail ratio (floored). At
:data:`PROB_FLOOR` the ratio is 1 wherever both tails are below 1e-4, so P(V30 > 2)
and P(V30 > 10) tied at the classifier's P(V30 > 0.65); at 0 a band the model gives
1e-12 turns a 0.001 nudge of a threshold into a jump (0.069 -> 0). 1e-6 keeps both."""


def direction_nodes(h: int, n: int = N_DIRECTION_NODES) -> FloatArray:
    """Nodes u (equal weights) of the direction F / sqrt(S) of h future returns.

    Returns:
        Array of 2 n values (+-sqrt(h B_k), B_k the Beta(1/2, (h-1)/2) quantiles at
        (k - 0.5) / n); for h = 1 the two values +-1.
    """
    return _direction_nodes(h, n)


@functools.lru_cache(maxsize=256)
def _direction_nodes(h: int, n: int) -> FloatArray:
    # Beta quantiles cost ~0.1 ms a call and every request asks for the same few
    # (h, n): cache them, read-only.
    if h == 1:
        u = np.array([-1.0, 1.0])
    else:
        b = np.sqrt(h * beta_dist.ppf((np.arange(n) + 0.5) / n, 0.5, (h - 1) / 2.0))
        u = np.concatenate([-b, b])
    u.flags.writeable = False
    return u


def residual_table(resid: FloatArray, size: int = 512) -> tuple[FloatArray, FloatArray]:
    """Kernel-smoothed CDF of the residual sample on a grid: (grid, cdf).

    Notes:
        F(x) = mean_j Phi((x - e_j) / b), Gaussian kernel, bandwidth
        b = 0.9 min(sd, IQR / 1.34) m^(-1/5) (Silverman), m = len(resid).
    """
    e = np.sort(np.asarray(resid, dtype="float64"))
    iqr = float(np.subtract(*np.quantile(e, [0.75, 0.25])))
    bw = 0.9 * max(min(float(e.std()), iqr / 1.34), 1e-3) * len(e) ** (-0.2)
    grid = np.linspace(e[0] - 5 * bw, e[-1] + 5 * bw, size)
    cdf = ndtr((grid[:, None] - e[None, :]) / bw).mean(axis=1)
    return grid, np.asarray(cdf, dtype="float64")


def residual_cdf(x: FloatArray, resid: FloatArray) -> FloatArray:
    """Kernel-smoothed residual CDF (see :func:`residual_table`) at ``x``."""
    grid, cdf = residual_table(resid)
    return np.asarray(np.interp(x, grid, cdf, left=0.0, right=1.0), dtype="float64")


def v30_cdf(
    c: float, known_sum: FloatArray, known_ss: FloatArray, h: int, mu: FloatArray,
    resid: FloatArray | tuple[FloatArray, FloatArray],
) -> FloatArray:  # fmt: skip
    """P(V30(t+h) <= c) for origins sharing horizon ``h``.

    Args:
        c: Annualised volatility level (0.40 = 40%).
        known_sum: K1, sum of the known returns of V30(t+h)'s window, shape (n,).
        known_ss: K2, their sum of squares, shape (n,).
        h: Horizon in days (1..30).
        mu: Location of Y = log(365/h S), shape (n,).
        resid: Residual sample (or quantiles) of Y for this horizon, or its
            :func:`residual_table`.

    Returns:
        Probabilities, shape (n,).
    """
    grid, table = resid if isinstance(resid, tuple) else residual_table(resid)
    k1 = np.asarray(known_sum, dtype="float64")[:, None]
    k2 = np.asarray(known_ss, dtype="float64")[:, None]
    m = np.asarray(mu, dtype="float64")[:, None]
    u = direction_nodes(h)[None, :]
    a = 1.0 - u**2 / V30_WINDOW
    b = -2.0 * k1 * u / V30_WINDOW
    const = k2 - k1**2 / V30_WINDOW - c**2 * (V30_WINDOW - 1) / ANNUALIZATION
    disc = b**2 - 4.0 * a * const
    root = np.sqrt(np.maximum(disc, 0.0))
    y1 = np.maximum((-b - root) / (2.0 * a), 0.0)
    y2 = np.maximum((-b + root) / (2.0 * a), 0.0)

    def cdf_s(y: FloatArray) -> FloatArray:
        s = y**2 * ANNUALIZATION / h
        z = np.log(np.where(s > 0, s, 1.0)) - m
        return np.where(s > 0, np.interp(z, grid, table, left=0.0, right=1.0), 0.0)

    p = np.where(disc > 0, cdf_s(y2) - cdf_s(y1), 0.0)
    return np.asarray(np.clip(p.mean(axis=1), 0.0, 1.0), dtype="float64")


def regime_probabilities(
    known_sum: FloatArray, known_ss: FloatArray, h: int, mu: FloatArray,
    resid: FloatArray | tuple[FloatArray, FloatArray],
    thresholds: tuple[float, float] | list[float], floor: float = PROB_FLOOR,
) -> FloatArray:  # fmt: skip
    """Low/Normal/High probabilities of V30(t+h) for any thresholds: (n, 3).

    ``resid`` is the residual sample of Y for this horizon, or its precomputed
    :func:`residual_table` (to reuse it across calls).

    Probabilities are floored at ``floor`` (1e-4) and renormalised, so log loss stays
    finite; they sum to 1 and P(low) rises, P(high) falls as the thresholds rise.
    :func:`anchor_probabilities` reads them at :data:`ANCHOR_FLOOR`.

    Raises:
        DataValidationError: Thresholds not 0 < low < high.
    """
    low, high = check_thresholds(thresholds)
    table = resid if isinstance(resid, tuple) else residual_table(resid)
    f_low = v30_cdf(low, known_sum, known_ss, h, mu, table)
    f_high = np.maximum(v30_cdf(high, known_sum, known_ss, h, mu, table), f_low)
    p = np.stack([f_low, f_high - f_low, 1.0 - f_high], axis=-1)
    p = np.clip(p, 0.0, 1.0) + floor
    return np.asarray(p / p.sum(axis=-1, keepdims=True), dtype="float64")


def level_forecast(mu: FloatArray, resid: FloatArray) -> FloatArray:
    """Annualised realised volatility over (t, t+h]: (n, 4).

    Columns: expected volatility E[sqrt(365/h S)], the 10% and 90% quantiles, and
    the expected annualised variance E[365/h S] (the forecast scored by QLIKE).

    Notes:
        vol = exp((mu + e) / 2); moments and quantiles over the residual sample.
    """
    m = np.asarray(mu, dtype="float64")[:, None]
    e = np.asarray(resid, dtype="float64")
    q = np.quantile(e, LEVEL_QUANTILES)
    return np.column_stack(
        [np.exp(m[:, 0] / 2) * np.mean(np.exp(e / 2)),
         np.exp((m[:, 0] + q[0]) / 2), np.exp((m[:, 0] + q[1]) / 2),
         np.exp(m[:, 0]) * np.mean(np.exp(e))],
    )  # fmt: skip


def mixture_level(
    mus: list[FloatArray], resids: list[FloatArray], weights: FloatArray
) -> FloatArray:
    """:func:`level_forecast` of a weighted mixture of (mu_k, residual sample_k): (n, 4).

    Notes:
        Means are the weighted means of the members' means; the 10% / 90% quantiles
        invert the mixture CDF sum_k w_k F_k(y - mu_k), each F_k piecewise linear
        through its residuals at levels (j + 0.5) / m_k (so one member gives numpy's
        "hazen" quantile). The quantiles are continuous in every mu_k.
    """
    w = np.asarray(weights, dtype="float64")
    keep = [k for k in range(len(w)) if w[k] > 0]  # weightless members add nothing
    w, mus, resids = w[keep], [mus[k] for k in keep], [resids[k] for k in keep]
    parts = [level_forecast(m, e) for m, e in zip(mus, resids, strict=True)]
    means = sum(wk * p for wk, p in zip(w, parts, strict=True))
    assert isinstance(means, np.ndarray)
    es = [np.sort(np.asarray(e, dtype="float64")) for e in resids]
    hazen = [(np.arange(len(e)) + 0.5) / len(e) for e in es]
    ms = np.column_stack([np.asarray(m, dtype="float64") for m in mus])

    def cdf(y: FloatArray) -> FloatArray:
        return np.asarray(sum(
            wk * np.interp(y - ms[:, k], e, lv, left=0.0, right=1.0)
            for k, (wk, e, lv) in enumerate(zip(w, es, hazen, strict=True))
        ))  # fmt: skip

    q = np.empty((len(ms), len(LEVEL_QUANTILES)))
    for c, level in enumerate(LEVEL_QUANTILES):  # bisection, all rows at once
        lo = (ms + np.array([e[0] for e in es])).min(axis=1)
        hi = (ms + np.array([e[-1] for e in es])).max(axis=1)
        for _ in range(60):
            mid = (lo + hi) / 2
            below = cdf(mid) < level
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        q[:, c] = (lo + hi) / 2
    q = np.exp(q / 2)
    return np.column_stack([means[:, 0], q[:, 0], q[:, 1], means[:, 3]])


def pool_weights(
    p_true: FloatArray, prior: float = 1.0, iters: int = 200,
    row_weight: FloatArray | None = None,
) -> FloatArray:  # fmt: skip
    """Linear-pool weights maximising the log score of past forecasts (EM).

    Args:
        p_true: (m, K) probability each of K members gave the class that happened,
            over m past out-of-sample forecasts.
        prior: Dirichlet pseudo-count per member (pulls towards equal weights).
        row_weight: (m,) weight of each past forecast (default 1).

    Returns:
        Weights (K,) summing to 1; equal weights when m = 0.

    Notes:
        w_k <- (sum_i w_k p_ik / sum_j w_j p_ij + prior) / (m + K prior): the EM
        update for mixture weights (the log score is concave in w, so it converges
        to the penalised maximum).
    """
    p = np.asarray(p_true, dtype="float64")
    k = p.shape[1]
    rw = (
        np.ones(len(p))
        if row_weight is None
        else np.asarray(row_weight, dtype="float64")
    )
    w = np.full(k, 1.0 / k)
    for _ in range(iters):
        r = w * p
        r /= np.maximum(r.sum(axis=1, keepdims=True), 1e-300)
        w = ((rw[:, None] * r).sum(axis=0) + prior) / (rw.sum() + k * prior)
    return np.asarray(w, dtype="float64")


def qlike_weights(realized: FloatArray, forecasts: FloatArray) -> FloatArray:
    """Combination weights of variance forecasts minimising mean QLIKE.

    Args:
        realized: (m,) realised variances.
        forecasts: (m, K) members' expected-variance forecasts for the same rows.

    Returns:
        Weights (K,) on the simplex (equal weights when m = 0); the combined
        forecast is ``forecasts @ w``.

    Notes:
        QLIKE(x, f) = x/f - log(x/f) - 1 (:func:`ml.scoring.qlike_terms`), minimised
        by SLSQP from equal weights.
    """
    from scipy.optimize import minimize

    x = np.asarray(realized, dtype="float64")
    f = np.asarray(forecasts, dtype="float64")
    k = f.shape[1]
    w0 = np.full(k, 1.0 / k)
    if len(x) == 0:
        return w0

    def loss(w: FloatArray) -> float:
        c = np.maximum(f @ w, 1e-12)
        return float(np.mean(x / c + np.log(c)))

    res = minimize(loss, w0, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                   constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0},))  # fmt: skip
    w = np.clip(res.x, 0.0, None)
    return np.asarray(w / w.sum(), dtype="float64")


def anchor_probabilities(
    anchor: FloatArray, model_at_anchor: FloatArray, model_at_requested: FloatArray
) -> FloatArray:
    """Regime probabilities at other thresholds that agree with ``anchor`` at its own.

    Args:
        anchor: (n, 3) probabilities at the trained thresholds (the served classifier).
        model_at_anchor: (n, 3) the structural model's at the trained thresholds.
        model_at_requested: (n, 3) the structural model's at the requested ones.

    Returns:
        (n, 3) probabilities F = g(F_model) per row, with F the CDF of V30 at the
        two cut points and g the piecewise-linear map through (0, 0),
        (F_model(low0), F_anchor(low0)), (F_model(high0), F_anchor(high0)), (1, 1).

    Notes:
        g is increasing, so the answer is coherent in the thresholds (raising a cut
        point never lowers the probability below it), continuous, and equal to
        ``anchor`` at the trained thresholds: moving a slider by 0.001 moves the
        answer a little instead of switching models.
    """
    a, m, r = (np.asarray(x, dtype="float64") for x in
               (anchor, model_at_anchor, model_at_requested))  # fmt: skip
    fa = np.cumsum(a, axis=1)[:, :2]
    fm = np.cumsum(m, axis=1)[:, :2]
    fr = np.cumsum(r, axis=1)[:, :2]
    out = np.empty_like(fr)
    for i in range(len(fr)):
        xp = np.concatenate([[0.0], fm[i], [1.0]])
        fp = np.concatenate([[0.0], fa[i], [1.0]])
        out[i] = np.interp(fr[i], xp, np.maximum.accumulate(fp))
    p = np.column_stack([out[:, 0], out[:, 1] - out[:, 0], 1.0 - out[:, 1]])
    return np.asarray(np.clip(p, 0.0, 1.0), dtype="float64")
