"""How the UI gets forecasts: over HTTP from the prediction server, never in-process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml.data import bundled_path, read_candles
from ml.inference import check_horizons, forecast_frame, inference_matrix, resolve_asof
from ml.settings import Settings
from serving.v2 import infer_proba

__all__ = ["CandleSource", "Forecast", "V2ForecastClient", "load_candles"]


@dataclass(frozen=True)
class CandleSource:
    """Candles the UI shows and computes features from."""

    daily: pd.DataFrame
    h4: pd.DataFrame | None


def load_candles(settings: Settings) -> CandleSource:
    """Read the configured (default: bundled) candle files."""
    d = settings.data
    daily = read_candles(d.daily_path or bundled_path("1d"))
    h4_path: Path | None = d.h4_path or (
        bundled_path("4h") if d.daily_path is None else None
    )
    h4 = read_candles(h4_path) if d.use_4h and h4_path is not None else None
    return CandleSource(daily, h4)


@dataclass(frozen=True)
class Forecast:
    """A forecast for one as-of day."""

    asof: pd.Timestamp
    table: pd.DataFrame
    model_version: str
    server: str


class V2ForecastClient:
    """Compute features with ``ml`` and ask the V2 predictor (MLServer) for probabilities."""

    def __init__(self, settings: Settings, candles: CandleSource) -> None:
        self.url = settings.ui.server_url or settings.predictor_url
        self.model = settings.mlflow.model_name
        self.timeout = settings.serving.timeout_s
        self.candles = candles

    def forecast(self, asof: str | None, horizons: list[int]) -> Forecast:
        """Forecast every horizon for ``asof`` (default: latest day)."""
        hs = check_horizons(horizons)
        day = resolve_asof(self.candles.daily, asof)
        x = inference_matrix(self.candles.daily, self.candles.h4, day, hs)
        proba, body = infer_proba(self.url, self.model, x, self.timeout)
        version = str(body.get("model_version") or "?")
        return Forecast(day, forecast_frame(day, hs, proba), version, self.url)
