"""The structural model: no look-ahead, coherent outputs, behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ml.data import bundled_path, read_candles
from ml.labels import DEFAULT_THRESHOLDS
from ml.panel import Panel, build_panel
from ml.structural import StructuralForecaster, future_log_variance, level_features

N_DAYS, CUTOFF = 560, 420


@pytest.fixture(scope="module")
def daily():  # type: ignore[no-untyped-def]
    return read_candles(bundled_path("1d")).iloc[:N_DAYS].reset_index(drop=True)


@pytest.fixture(scope="module")
def panel(daily) -> Panel:  # type: ignore[no-untyped-def]
    return build_panel(daily, None, DEFAULT_THRESHOLDS)


def test_no_look_ahead_candles_after_the_origin_change_nothing(
    daily, panel: Panel
) -> None:  # type: ignore[no-untyped-def]
    """Fit at the cutoff and predict origins <= cutoff from data ending at the cutoff."""
    cut = build_panel(daily.iloc[: CUTOFF + 1], None, DEFAULT_THRESHOLDS)
    origins = np.arange(CUTOFF - 20, CUTOFF + 1)
    a, b = StructuralForecaster(), StructuralForecaster()
    a.fit(panel, CUTOFF)
    b.fit(cut, CUTOFF)
    assert_array_equal(a.predict_proba(panel, origins), b.predict_proba(cut, origins))
    assert_array_equal(a.predict_level(panel, origins), b.predict_level(cut, origins))


def test_fit_uses_only_targets_known_at_the_cutoff(panel: Panel) -> None:
    """Scrambling returns after the cutoff leaves the fitted model unchanged."""
    rng = np.random.default_rng(0)
    r = panel.returns.copy()
    r[CUTOFF + 1 :] = rng.permutation(r[CUTOFF + 1 :]) * 3.0
    scrambled = Panel(**{**panel.__dict__, "returns": r})
    a, b = StructuralForecaster(), StructuralForecaster()
    a.fit(panel, CUTOFF)
    b.fit(scrambled, CUTOFF)
    origins = np.arange(CUTOFF - 5, CUTOFF + 1)
    assert_array_equal(
        a.predict_proba(panel, origins), b.predict_proba(scrambled, origins)
    )


def test_outputs_are_coherent_for_any_thresholds(panel: Panel) -> None:
    m = StructuralForecaster()
    m.fit(panel, CUTOFF)
    origins = np.arange(CUTOFF, N_DAYS - 30)
    p_default = m.predict_proba(panel, origins)
    p_wide = m.predict_proba(panel, origins, thresholds=(0.30, 0.90))
    assert_allclose(p_default.sum(axis=-1), 1.0)
    assert (p_wide[..., 0] <= p_default[..., 0] + 1e-12).all()  # lower low threshold
    assert (p_wide[..., 2] <= p_default[..., 2] + 1e-12).all()  # higher high threshold
    level = m.predict_level(panel, origins)
    assert (level[..., 1] < level[..., 0]).all() and (
        level[..., 0] < level[..., 2]
    ).all()


def test_forecast_rises_with_recent_volatility(panel: Panel) -> None:
    """Behaviour: a calmer recent past means a lower variance forecast."""
    m = StructuralForecaster()
    m.fit(panel, CUTOFF)
    origins = np.arange(CUTOFF - 200, CUTOFF)
    mu = m.predict_mu(panel, origins)[:, 6]
    recent = level_features(panel.features)["logvar_rv_cc_30d"].to_numpy()[origins]
    assert np.corrcoef(mu, recent)[0, 1] > 0.5


def test_future_log_variance_hand_values() -> None:
    r = np.array([np.nan, 0.01, -0.02, 0.03])
    y = future_log_variance(r, 2)
    assert y[0, 0] == pytest.approx(np.log(365 * 1e-4))
    assert y[1, 1] == pytest.approx(np.log(365 * (4e-4 + 9e-4) / 2))
    assert np.isnan(y[3]).all()


def test_serving_artifact_round_trip_matches_the_walk_forward(
    daily, panel: Panel
) -> None:  # type: ignore[no-untyped-def]
    """JSON artifact + forecast_asof (serving path) == the fitted model on the panel."""
    import json

    import pandas as pd

    from ml.structural import forecast_asof, structural_from_dict, structural_to_dict

    m = StructuralForecaster()
    m.fit(panel, CUTOFF)
    served = structural_from_dict(json.loads(json.dumps(structural_to_dict(m))))
    asof = pd.Timestamp(panel.days[CUTOFF])
    frame = forecast_asof(served, daily, None, asof, DEFAULT_THRESHOLDS)
    origin = np.array([CUTOFF])
    assert_allclose(
        frame[["p_low", "p_normal", "p_high"]].to_numpy(),
        m.predict_proba(panel, origin)[0],
        rtol=1e-9,
    )
    assert_allclose(
        frame["vol_forecast"].to_numpy(),
        m.predict_level(panel, origin)[0][:, 0],
        rtol=1e-9,
    )
    wide = forecast_asof(served, daily, None, asof, (0.3, 0.9))
    assert (wide["p_low"] <= frame["p_low"] + 1e-12).all()


def test_serving_table_equals_forecast_asof_for_any_thresholds(
    daily, panel: Panel
) -> None:
    """The transformer's precomputed table gives what forecast_asof gives on cut candles."""
    import pandas as pd

    from ml.structural import StructuralTable, fit_structural, forecast_asof

    model = fit_structural(panel)
    table = StructuralTable(model, panel)
    for day, th in (
        (panel.days[200], DEFAULT_THRESHOLDS),
        (panel.days[-1], (0.3, 0.9)),
    ):
        p, level = table.forecast(pd.Timestamp(day), [1, 7, 30], th)
        want = forecast_asof(model, daily, None, pd.Timestamp(day), th).set_index(
            "horizon"
        )
        assert_allclose(
            p, want.loc[[1, 7, 30], ["p_low", "p_normal", "p_high"]], rtol=1e-9
        )
        assert_allclose(level, want.loc[[1, 7, 30], ["vol_forecast", "vol_lo", "vol_hi"]],
                        rtol=1e-9)  # fmt: skip
    with pytest.raises(KeyError):
        table.forecast(pd.Timestamp(panel.days[5]), [1], DEFAULT_THRESHOLDS)  # warm-up


def test_bad_member_spec_names_the_field_and_value() -> None:
    from ml.components import ComponentSpec

    with pytest.raises(ValueError, match="kind: got 'tree'"):
        ComponentSpec("x", "tree", ("logvar_rv_4h_1d",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="regime_residuals: got 'cauchy'"):
        ComponentSpec("x", "linear", ("logvar_rv_4h_1d",), regime_residuals="cauchy")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match="features: component 'x' is linear but has none"
    ):
        ComponentSpec("x", "linear")


def test_an_old_serving_artifact_is_refused_with_the_reason() -> None:
    from ml.structural import structural_from_dict

    with pytest.raises(ValueError, match="structural.json version: got 1, expected 2"):
        structural_from_dict({"version": 1, "spec": {}})
