"""How the UI gets forecasts: over HTTP from the prediction server, never in-process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from ml.data import bundled_path, read_candles
from ml.errors import BVPError, DataValidationError, InsufficientHistoryError
from ml.inference import check_horizons, forecast_frame, inference_matrix, resolve_asof
from ml.settings import Settings
from serving.v2 import PredictorUnavailableError, infer_proba

__all__ = [
    "CandleSource",
    "Forecast",
    "ForecastRequestError",
    "TransformerForecastClient",
    "V2ForecastClient",
    "load_candles",
]


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
    probabilities_from: str = "classifier"
    """As the transformer says: ``classifier``, ``classifier+structural`` (the classifier
    carried to other thresholds) or ``structural`` (asked for)."""


class V2ForecastClient:
    """Compute features with ``ml`` and ask the V2 predictor (MLServer) for probabilities."""

    def __init__(self, settings: Settings, candles: CandleSource) -> None:
        self.url = settings.ui.server_url or settings.predictor_url
        self.model = settings.mlflow.model_name
        self.timeout = settings.serving.timeout_s
        self.candles = candles
        self.thresholds = tuple(settings.target.thresholds)

    def forecast(
        self, asof: str | None, horizons: list[int],
        thresholds: tuple[float, float] | None = None, source: str = "classifier",
    ) -> Forecast:  # fmt: skip
        """Forecast every horizon for ``asof`` (default: latest day).

        Raises:
            DataValidationError: ``thresholds`` other than the trained ones, or
                ``source`` other than ``classifier`` (MLServer serves the classifier
                alone; the transformer can answer both).
        """
        if source != "classifier":
            raise DataValidationError(
                "probabilities_from", source,
                "this client asks MLServer directly, which serves the classifier only; "
                "point BVP_UI__SERVER_URL at the transformer",
            )  # fmt: skip
        if thresholds is not None and not np.allclose(thresholds, self.thresholds):
            raise DataValidationError(
                "thresholds", list(thresholds),
                f"this client asks MLServer directly, which predicts regimes for "
                f"{list(self.thresholds)} only; point BVP_UI__SERVER_URL at the transformer",
            )  # fmt: skip
        hs = check_horizons(horizons)
        day = resolve_asof(self.candles.daily, asof)
        x = inference_matrix(
            self.candles.daily, self.candles.h4, day, hs, self.thresholds
        )
        proba, body = infer_proba(self.url, self.model, x, self.timeout)
        version = str(body.get("model_version") or "?")
        return Forecast(day, forecast_frame(day, hs, proba), version, self.url)


class ForecastRequestError(DataValidationError):
    """The transformer refused a request (4xx): its sentence, field and value."""

    def __init__(self, body: dict[str, object], fallback: str) -> None:
        BVPError.__init__(self, str(body.get("error") or fallback))
        self.column = str(body.get("field") or "request")
        self.value = body.get("value")
        self.rule = ""
        self.at = body.get("at")
        self.count = 1


class RemoteInsufficientHistoryError(ForecastRequestError, InsufficientHistoryError):
    """The transformer said how many candles it needed and how many it had."""

    def __init__(self, body: dict[str, object], fallback: str) -> None:
        super().__init__(body, fallback)
        self.needed = int(str(body["needed"]))
        self.got = int(str(body.get("got", 0)))


def request_error(resp: httpx.Response) -> ForecastRequestError:
    """Typed error from a transformer 4xx, so the UI words it like a local one."""
    body = _json(resp)
    cls = RemoteInsufficientHistoryError if "needed" in body else ForecastRequestError
    return cls(body, resp.text[:200])


class TransformerForecastClient:
    """Ask the KServe transformer: it validates, computes features and calls MLServer."""

    def __init__(self, settings: Settings) -> None:
        self.url = (settings.ui.server_url or settings.transformer_url).rstrip("/")
        self.model = settings.mlflow.model_name
        self.timeout = settings.serving.timeout_s

    def forecast(
        self, asof: str | None, horizons: list[int],
        thresholds: tuple[float, float] | None = None, source: str = "classifier",
    ) -> Forecast:  # fmt: skip
        """Forecast every horizon for ``asof`` (default: latest day of the served data).

        ``thresholds`` other than the trained ones are answered by the transformer, the
        classifier carried to them by the structural model; ``source="structural"``
        asks for that model's own probabilities (``Forecast.probabilities_from``).

        Raises:
            ForecastRequestError: The transformer refused the request (4xx).
            PredictorUnavailableError: No answer, or a 5xx.
        """
        body: dict[str, object] = {"horizons": list(horizons)}
        if asof:
            body["asof"] = asof
        if thresholds is not None:
            body["thresholds"] = [float(t) for t in thresholds]
        if source != "classifier":
            body["probabilities_from"] = source
        endpoint = f"{self.url}/v1/models/{self.model}:predict"
        try:
            resp = httpx.post(endpoint, json=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise PredictorUnavailableError(
                self.url, f"{type(exc).__name__}: {exc}"
            ) from exc
        if 400 <= resp.status_code < 500:
            raise request_error(resp)
        if resp.status_code != 200:
            said = str(_json(resp).get("error") or "")
            if said:  # the transformer already names the server behind it
                raise PredictorUnavailableError(
                    self.url,
                    said,
                    f"{said} (reported by the transformer at {self.url})",
                )
            raise PredictorUnavailableError(
                self.url, f"HTTP {resp.status_code}: {resp.text[:200]}"
            )
        out = resp.json()
        table = pd.DataFrame(out["forecasts"])
        table["target_date"] = pd.to_datetime(table["target_date"]).dt.date
        day = pd.Timestamp(out["asof"])
        return Forecast(day, table, str(out.get("model_version") or "?"), self.url,
                        str(out.get("probabilities_from") or "classifier"))  # fmt: skip


def _json(resp: httpx.Response) -> dict[str, object]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
