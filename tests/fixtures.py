"""Shared fakes: synthetic candles and a registered champion trained on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml.data import CLOSE, HIGH, LOW, OPEN, OPEN_TIME, VOLUME

PHI, NOISE = 0.7, 0.3


def synthetic_candles(
    n_days: int = 900,
    seed: int = 3,
    shift_last: int = 0,
    vol_factor: float = 3.0,
    start: str = "2019-01-01",
) -> pd.DataFrame:
    """Daily candles with a stationary log-AR(1) volatility (all three regimes occur).

    Args:
        n_days: Number of days.
        seed: RNG seed.
        shift_last: Multiply the volatility of the last ``shift_last`` days by
            ``vol_factor`` (forced drift).
        vol_factor: Volatility multiplier of the shifted days.
        start: First day.
    """
    rng = np.random.default_rng(seed)
    log_sigma = np.empty(n_days)
    log_sigma[0] = np.log(0.55)
    for t in range(1, n_days):
        log_sigma[t] = (
            np.log(0.55)
            + PHI * (log_sigma[t - 1] - np.log(0.55))
            + rng.normal(0, NOISE)
        )
    sigma = np.exp(log_sigma)
    if shift_last:
        sigma[-shift_last:] *= vol_factor
    r = rng.normal(0, sigma / np.sqrt(365))
    close = 20000 * np.exp(np.cumsum(r))
    open_ = np.concatenate([[20000.0], close[:-1]])
    wick = np.abs(rng.normal(0, sigma / np.sqrt(365) / 2, size=(2, n_days)))
    return pd.DataFrame({
        OPEN_TIME: pd.date_range(start, periods=n_days, freq="D"),
        OPEN: open_,
        HIGH: np.maximum(open_, close) * np.exp(wick[0]),
        LOW: np.minimum(open_, close) * np.exp(-wick[1]),
        CLOSE: close,
        VOLUME: rng.lognormal(8, 0.3, n_days),
    })  # fmt: skip


def write_candles(candles: pd.DataFrame, path: Path) -> Path:
    """Write candles in the store's gzipped CSV layout (readable by read_candles)."""
    from pipelines.ingest.store import encode_candles

    path.write_bytes(encode_candles(candles))
    return path


def register_champion(
    tracking_uri: str,
    candles: pd.DataFrame,
    end_index: int,
    tmp: Path,
    artifact_root: str,
    n_estimators: int = 30,
    model_name: str = "btc-volatility",
    previous: str = "",
) -> str:
    """Train on candles[: end_index + 1], log, register and alias ``champion`` (the
    version it replaces becomes ``previous`` when given, as the train step does)."""
    from dataclasses import asdict

    from ml.data import data_version
    from ml.models import RegimeModelSpec, fit_regime_model, training_rows
    from ml.panel import build_panel
    from pipelines.tracking import (
        compute_fingerprint,
        log_training_run,
        register_version,
    )

    part = candles.iloc[: end_index + 1].reset_index(drop=True)
    panel = build_panel(part, None, (0.4, 0.65))
    spec = RegimeModelSpec(n_estimators=n_estimators, n_jobs=1)
    model = fit_regime_model(*training_rows(panel, len(panel.days) - 1), spec)
    out = tmp / "champion-model"
    out.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out / "model.ubj"))
    dv = data_version(part).as_dict()
    fp = compute_fingerprint({"daily": dv}, asdict(spec), [0.4, 0.65])
    run_id, uri = log_training_run(
        tracking_uri,
        "volatility_prediction",
        artifact_root,
        out,
        {**asdict(spec), "thresholds": "0.4,0.65"},  # as the train step logs them
        {"bvp.data.daily.last": dv["last"]},
    )
    version, _ = register_version(
        tracking_uri,
        model_name,
        uri,
        run_id,
        fp,
        "champion",
        tags={"bvp.data.daily.last": dv["last"]},
        previous=previous,
    )
    return version
