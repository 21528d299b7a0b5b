"""Baselines against independent computations, on slices of the bundled candles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import norm
from scipy.stats import t as student_t
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ml.baselines import (
    BASELINES,
    ClimatologyForecaster,
    GarchTForecaster,
    HARForecaster,
    PersistenceForecaster,
    SeedLogisticForecaster,
    seed_features,
)
from ml.data import OPEN_TIME, bundled_path, read_candles
from ml.labels import label_regimes
from ml.panel import Panel, build_panel
from ml.vol_baselines import garch_variance, path_v30

THRESHOLDS = (0.40, 0.65)
N_SHORT, N_LONG = 640, 700
"""Days in the truncated and the longer slice (2018-01-01 on: all three regimes)."""
CUTOFF = 600
ORIGINS = np.arange(CUTOFF, N_SHORT)
FAST = {"garch_t": lambda: GarchTForecaster(n_paths=300)}


def _slice_panel(candles: tuple[pd.DataFrame, pd.DataFrame], n_days: int) -> Panel:
    d1, d4 = candles
    end = d1[OPEN_TIME].iloc[n_days - 1] + pd.Timedelta(days=1)
    return build_panel(d1.iloc[:n_days], d4[d4[OPEN_TIME] < end], THRESHOLDS)


@pytest.fixture(scope="module")
def candles() -> tuple[pd.DataFrame, pd.DataFrame]:
    return read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))


@pytest.fixture(scope="module")
def panel(candles) -> Panel:
    return _slice_panel(candles, N_LONG)


@pytest.fixture(scope="module")
def short_panel(candles) -> Panel:
    return _slice_panel(candles, N_SHORT)


def _make(name: str):
    return FAST.get(name, BASELINES[name])()


def _known_pairs(panel: Panel, h: int, cutoff: int = CUTOFF) -> pd.DataFrame:
    """Origins i (>= first_usable) whose V30 regime on i + h is known at cutoff."""
    i = np.arange(panel.first_usable, cutoff - h + 1)
    return pd.DataFrame(
        {
            "now": label_regimes(panel.v30[i], THRESHOLDS),
            "later": panel.labels[i, h - 1],
        }
    )


@pytest.mark.parametrize("h", [1, 7, 30], ids=lambda h: f"h{h}")
def test_climatology_counts_known_labels(panel, h):
    model = ClimatologyForecaster()
    model.fit(panel, CUTOFF)
    counts = (
        _known_pairs(panel, h)["later"].value_counts().reindex(range(3), fill_value=0)
    )
    expected = (counts + 1) / (counts.sum() + 3)
    got = model.predict_proba(panel, ORIGINS[:2])
    assert_allclose(got[:, h - 1], np.tile(expected.to_numpy(), (2, 1)))


@pytest.mark.parametrize("h", [1, 7, 30], ids=lambda h: f"h{h}")
def test_persistence_matches_crosstab(panel, h):
    model = PersistenceForecaster()
    model.fit(panel, CUTOFF)
    tab = pd.crosstab(_known_pairs(panel, h)["now"], _known_pairs(panel, h)["later"])
    tab = tab.reindex(index=range(3), columns=range(3), fill_value=0) + 1
    expected = (tab.T / tab.sum(axis=1)).T.to_numpy()
    assert model.transition_ is not None
    assert_allclose(model.transition_[h - 1], expected)
    got = model.predict_proba(panel, ORIGINS)
    today = label_regimes(panel.v30[ORIGINS], THRESHOLDS)
    assert_allclose(got[:, h - 1], expected[today])


def test_seed_features_are_v30_and_its_lags(panel):
    f = seed_features(panel)
    assert_allclose(f["v30"], panel.v30)
    assert_allclose(f["v30_lag14"].iloc[200:], panel.v30[186:-14])


@pytest.mark.parametrize("h", [2, 30], ids=lambda h: f"h{h}")
def test_seed_logistic_equals_direct_sklearn_fit(panel, h):
    model = SeedLogisticForecaster()
    model.fit(panel, CUTOFF)
    x = seed_features(panel).to_numpy()
    rows = np.arange(panel.first_usable, CUTOFF - h + 1)
    direct = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=0.1, class_weight="balanced", solver="newton-cholesky"),
    ).fit(x[rows], panel.labels[rows, h - 1])
    got = model.predict_proba(panel, ORIGINS)[:, h - 1]
    assert_allclose(got, direct.predict_proba(x[ORIGINS]), atol=1e-5)


@pytest.mark.parametrize("h", [1, 10], ids=lambda h: f"h{h}")
def test_har_coefficients_match_normal_equations(panel, h):
    model = HARForecaster()
    model.fit(panel, CUTOFF)
    rv = pd.Series(panel.rv_daily)
    x = pd.DataFrame({
        "c": 1.0, "d": np.log(rv), "w": np.log(rv.rolling(7).mean()),
        "m": np.log(rv.rolling(30).mean()),
    })  # fmt: skip
    y = np.log(rv.rolling(h).mean().shift(-h))
    rows = np.arange(panel.first_usable, CUTOFF - h + 1)
    xx, yy = x.iloc[rows].to_numpy(), y.iloc[rows].to_numpy()
    beta = np.linalg.solve(xx.T @ xx, xx.T @ yy)
    resid = yy - xx @ beta
    assert model.coef_ is not None and model.sigma_ is not None
    assert_allclose(model.coef_[h - 1], beta, rtol=1e-8)
    assert_allclose(model.sigma_[h - 1], np.sqrt(resid @ resid / (len(rows) - 4)))


@pytest.mark.parametrize("h", [1, 5, 29, 30], ids=lambda h: f"h{h}")
def test_har_regime_probs_match_lognormal_monte_carlo(panel, h):
    model = HARForecaster(eps=0.0)
    model.fit(panel, CUTOFF)
    t = CUTOFF + 3
    assert model.coef_ is not None and model.sigma_ is not None
    mu = model._mu(panel, np.array([t]))[0, h - 1]
    known = panel.returns[t + h - 29 : t + 1]  # r_{t+h-29..t}; empty for h = 30
    a = np.sum(known**2) - np.sum(known) ** 2 / 30
    y = np.random.default_rng(0).normal(mu, model.sigma_[h - 1], 400_000)
    v30 = np.sqrt(365 / 29 * (a + 29 / 30 * h * np.exp(y)))
    mc = np.bincount(label_regimes(v30, THRESHOLDS), minlength=3) / len(y)
    got = model.predict_proba(panel, np.array([t]))[0, h - 1]
    assert_allclose(got, mc, atol=4e-3)


def test_har_level_is_lognormal_mean_and_quantiles(panel):
    model = HARForecaster()
    model.fit(panel, CUTOFF)
    level = model.predict_level(panel, ORIGINS)
    assert model.sigma_ is not None
    mu = model._mu(panel, ORIGINS)
    median = np.sqrt(365 * np.exp(mu))
    lo, hi = (
        np.sqrt(365 * np.exp(mu + z * model.sigma_)) for z in norm.ppf([0.1, 0.9])
    )
    assert_allclose(level[..., 1], lo)
    assert_allclose(level[..., 2], hi)
    assert (level[..., 0] > median).all() and (level[..., 0] < hi).all()


@pytest.fixture(scope="module")
def garch(panel) -> GarchTForecaster:
    model = GarchTForecaster(n_paths=20_000)
    model.fit(panel, CUTOFF)
    return model


def test_garch_variance_matches_arch_fixed_parameter_forecast(panel, garch):
    p = garch.params_
    assert p is not None
    r = 100 * panel.returns[1 : CUTOFF + 1]
    fixed = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fix(
        [p.mu, p.omega, p.alpha, p.beta, p.nu]
    )
    ours = garch_variance(r, p)
    assert_allclose(ours[:-1], fixed.conditional_volatility**2, rtol=1e-9)
    one_step = fixed.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]
    assert_allclose(ours[-1], one_step, rtol=1e-9)


def test_path_v30_with_realised_returns_reproduces_v30(panel):
    origins = np.arange(300, 340)
    future = np.stack([panel.returns[t + 1 : t + 31] for t in origins])[:, None, :]
    v30 = path_v30(panel.returns, origins, future)[:, 0, :]
    expected = np.stack([panel.v30[t + 1 : t + 31] for t in origins])
    assert_allclose(v30, expected, rtol=1e-10)


def test_garch_h1_probabilities_match_student_t_cdf(panel, garch):
    """With 29 returns known, V30(t+1) <= c is an interval for r_{t+1}: t CDF."""
    p = garch.params_
    assert p is not None
    t = CUTOFF + 5
    s2 = garch_variance(100 * panel.returns[1 : t + 1], p)[-1]
    k = panel.returns[t - 28 : t + 1]
    k1, k2 = k.sum(), np.sum(k**2)
    scale = np.sqrt(p.nu / (p.nu - 2))

    def cdf(c: float) -> float:  # (29/30) x^2 - (2 k1/30) x + k2 - k1^2/30 - c'
        roots = np.sort(
            np.roots([29 / 30, -2 * k1 / 30, k2 - k1**2 / 30 - c**2 * 29 / 365])
        )
        z = (100 * roots - p.mu) / np.sqrt(s2) * scale
        return (
            float(np.diff(student_t.cdf(z, p.nu))[0]) if np.isreal(roots).all() else 0.0
        )

    exact = np.array([cdf(0.40), cdf(0.65) - cdf(0.40), 1 - cdf(0.65)])
    got = garch.predict_proba(panel, np.array([t]))[0, 0]
    assert_allclose(got, exact, atol=0.01)


def test_garch_level_quantiles_are_ordered(panel, garch):
    level = garch.predict_level(panel, ORIGINS[:4])
    assert level.shape == (4, 30, 3)
    assert (level[..., 1] < level[..., 0]).all() and (
        level[..., 0] < level[..., 2]
    ).all()


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_probabilities_are_valid_and_deterministic(panel, name):
    model = _make(name)
    model.fit(panel, CUTOFF)
    proba = model.predict_proba(panel, ORIGINS)
    assert proba.shape == (len(ORIGINS), 30, 3)
    assert_allclose(proba.sum(axis=-1), 1.0)
    assert ((proba > 0) & (proba < 1)).all()
    again = _make(name)
    again.fit(panel, CUTOFF)
    assert_array_equal(again.predict_proba(panel, ORIGINS), proba)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_no_look_ahead(panel, short_panel, name):
    """Fit and predictions up to day N_SHORT - 1 ignore the 60 days that follow."""
    long_model, short_model = _make(name), _make(name)
    long_model.fit(panel, CUTOFF)
    short_model.fit(short_panel, CUTOFF)
    origins = ORIGINS[::3]
    assert_allclose(
        long_model.predict_proba(panel, origins),
        short_model.predict_proba(short_panel, origins),
        rtol=1e-12,
    )
    if hasattr(long_model, "predict_level"):
        assert_allclose(
            long_model.predict_level(panel, origins),
            short_model.predict_level(short_panel, origins),
            rtol=1e-12,
        )


def test_garch_forecast_of_an_origin_ignores_the_other_origins(panel, garch):
    both = garch.predict_proba(panel, np.array([CUTOFF, CUTOFF + 7]))
    alone = garch.predict_proba(panel, np.array([CUTOFF + 7]))
    assert_array_equal(both[1], alone[0])


def test_registry_names():
    assert list(BASELINES) == [
        "climatology", "persistence", "seed_logistic", "har_rv", "garch_t"
    ]  # fmt: skip
    assert [BASELINES[k]().name for k in BASELINES] == list(BASELINES)


@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "per-horizon"])
def test_classifiers_ignore_days_after_the_cutoff(panel, short_panel, pooled):
    """The served pooled classifier and its per-horizon variant: no look-ahead either."""
    from ml.models import PerHorizonXGBForecaster, RegimeModelSpec, XGBForecaster

    spec = RegimeModelSpec(n_estimators=15, n_jobs=1)
    make = (
        (lambda: XGBForecaster(spec))
        if pooled
        else (lambda: PerHorizonXGBForecaster(spec))
    )
    long_model, short_model = make(), make()
    long_model.fit(panel, CUTOFF)
    short_model.fit(short_panel, CUTOFF)
    origins = ORIGINS[::3]
    got = long_model.predict_proba(panel, origins)
    assert got.shape == (len(origins), 30, 3)
    assert_allclose(got.sum(axis=-1), 1.0, atol=1e-6)
    assert_array_equal(got, short_model.predict_proba(short_panel, origins))
