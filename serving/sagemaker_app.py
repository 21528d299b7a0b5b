"""SageMaker container contract over the project's prediction code.

SageMaker starts the image as ``docker run IMAGE serve``, extracts ``model.tar.gz``
into ``/opt/ml/model`` and talks to port 8080:

- ``GET /ping``: 200 once the booster is loaded.
- ``POST /invocations`` (``application/json``), one of
  ``{"instances": [[k features], ...]}`` (feature rows in ``FEATURE_NAMES`` order, the
  first being the horizon; ``null`` marks a missing feature, as in training) or
  ``{"asof": "YYYY-MM-DD", "horizons": [1, ..., 30]}`` (features from the candles
  bundled in the image). Answer: ``{"model_name", "model_version", "asof",
  "predictions": [{"horizon", "p_low", "p_normal", "p_high", "regime"}, ...]}``.

Bad requests get a 4xx JSON body ``{"error", "field", "value"}``, never a 500.
Start with ``python -m serving.sagemaker_app [serve] [--model-dir ...] [--port ...]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StrictFloat, StrictInt, ValidationError

from ml._typing import FloatArray
from ml.data import bundled_path, read_candles
from ml.errors import BVPError, ConfigError
from ml.evaluation import PROB_COLUMNS
from ml.features import FEATURE_NAMES
from ml.inference import check_horizons, forecast_frame, inference_matrix, resolve_asof
from ml.labels import REGIMES
from ml.models import BOOSTER_FILE, load_regime_model
from serving.deployment import META_FILE

__all__ = ["DEFAULT_MODEL_DIR", "MAX_ROWS", "SageMakerPredictor", "create_app", "main"]

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = "/opt/ml/model"
MODEL_DIR_ENV = "BVP_SAGEMAKER_MODEL_DIR"
PORT_ENV = "SAGEMAKER_BIND_TO_PORT"
MAX_ROWS = 1000
"""Largest number of feature rows in one request."""
MAX_BODY_BYTES = 1_000_000


class InstancesRequest(BaseModel):
    """Feature rows computed by the caller."""

    instances: list[list[StrictFloat | StrictInt | None]] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description=f"Rows of {len(FEATURE_NAMES)} features in FEATURE_NAMES order; "
        "the first is the horizon (1..30); null marks a missing feature.",
    )


class ForecastRequest(BaseModel):
    """An as-of day; features come from the candles bundled in the image."""

    asof: str | None = Field(default=None, description="Origin day; default: latest.")
    horizons: list[StrictInt] = Field(
        default_factory=lambda: list(range(1, 31)),
        description="Unique horizons in days, each in 1..30.",
    )


class RequestError(BVPError):
    """A request the adapter refuses; carries the JSON error body's slots."""

    def __init__(
        self, field: str, value: Any, rule: str, status_code: int = 400
    ) -> None:
        self.field, self.value, self.status_code = field, value, status_code
        super().__init__(f"{field}: got {_short(value)}, {rule}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _reject_constant(name: str) -> float:
    raise RequestError(
        "body", name, "expected finite numbers (NaN/Infinity are not JSON)"
    )


@dataclass
class SageMakerPredictor:
    """The booster and its metadata, loaded from the extracted model archive."""

    model: Any
    name: str
    version: str
    candles: tuple[pd.DataFrame, pd.DataFrame | None] | None = None

    @classmethod
    def load(cls, model_dir: Path) -> SageMakerPredictor:
        """Load ``model.ubj`` and check ``model-meta.json`` against this code.

        Raises:
            ConfigError: Missing booster, or features the code does not compute.
        """
        booster = model_dir / BOOSTER_FILE
        if not booster.is_file():
            raise ConfigError(
                "model_dir", str(model_dir), f"a folder with {BOOSTER_FILE}"
            )
        meta_path = model_dir / META_FILE
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        names = meta.get("feature_names", list(FEATURE_NAMES))
        if list(names) != list(FEATURE_NAMES):
            raise ConfigError(
                "model-meta.json feature_names",
                names,
                f"{list(FEATURE_NAMES)}",
                "The image's code and the model were built from different versions.",
            )
        return cls(
            load_regime_model(booster),
            meta.get("name", "btc-volatility"),
            str(meta.get("version", "unknown")),
        )

    def predict_rows(self, x: FloatArray) -> FloatArray:
        """Probabilities (rows, 3) for feature rows (rows, k)."""
        return np.asarray(self.model.predict_proba(x), dtype="float64")

    def forecast(
        self, asof: str | None, horizons: list[int]
    ) -> tuple[str, pd.DataFrame]:
        """Forecast frame for an as-of day from the bundled candles."""
        if self.candles is None:
            self.candles = (
                read_candles(bundled_path("1d")),
                read_candles(bundled_path("4h")),
            )
        daily, h4 = self.candles
        hs = check_horizons(horizons)
        day = resolve_asof(daily, asof)
        proba = self.predict_rows(inference_matrix(daily, h4, day, hs))
        return str(day.date()), forecast_frame(day, hs, proba)


def _feature_matrix(rows: list[list[float | int | None]]) -> FloatArray:
    k = len(FEATURE_NAMES)
    for i, row in enumerate(rows):
        if len(row) != k:
            raise RequestError(
                f"instances[{i}]",
                f"{len(row)} values",
                f"expected {k} ({', '.join(FEATURE_NAMES)})",
            )
        h = row[0]
        if h is None or not math.isfinite(h) or h != int(h) or not 1 <= h <= 30:
            raise RequestError(
                f"instances[{i}][0] ({FEATURE_NAMES[0]})",
                h,
                "expected an integer in 1..30",
            )
    x = np.array(
        [[math.nan if v is None else v for v in row] for row in rows], dtype="float64"
    )
    bad = np.argwhere(np.isinf(x))
    if len(bad):
        i, j = bad[0]
        raise RequestError(
            f"instances[{i}][{j}] ({FEATURE_NAMES[j]})",
            x[i, j],
            "expected a finite number",
        )
    return x


def _rows_answer(p: FloatArray, horizons: list[int]) -> list[dict[str, Any]]:
    return [
        {
            "horizon": int(h),
            **dict(zip(PROB_COLUMNS, map(float, row), strict=True)),
            "regime": REGIMES[int(np.argmax(row))],
        }
        for h, row in zip(horizons, p, strict=True)
    ]


def _parse(body: bytes) -> InstancesRequest | ForecastRequest:
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(
            "body", f"{len(body)} bytes", f"expected at most {MAX_BODY_BYTES}", 413
        )
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:
        raise RequestError(
            "body", body[:60].decode("utf-8", "replace"), f"expected JSON ({exc})"
        ) from exc
    if not isinstance(doc, dict):
        raise RequestError("body", type(doc).__name__, "expected a JSON object")
    if "instances" in doc and ({"asof", "horizons"} & doc.keys()):
        raise RequestError(
            "instances",
            "with asof/horizons",
            "expected either instances or asof/horizons, not both",
        )
    model = InstancesRequest if "instances" in doc else ForecastRequest
    if model is ForecastRequest and not ({"asof", "horizons"} & doc.keys()):
        raise RequestError(
            "body", sorted(doc), "expected a key 'instances', or 'asof'/'horizons'"
        )
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        field = f"{loc[0]}" + "".join(f"[{p}]" for p in loc[1:] if isinstance(p, int))
        raise RequestError(field, err.get("input"), err["msg"].lower(), 422) from exc


def create_app(predictor: SageMakerPredictor) -> FastAPI:
    """The ASGI app answering ``/ping`` and ``/invocations``."""
    app = FastAPI(
        title="btc-volatility SageMaker adapter", docs_url=None, redoc_url=None
    )

    @app.exception_handler(BVPError)
    async def _bvp_error(request: Request, exc: BVPError) -> JSONResponse:
        field = getattr(exc, "field", getattr(exc, "column", None))
        value = getattr(exc, "value", None)
        body = {
            "error": str(exc),
            "field": field,
            "value": _short(value) if value is not None else None,
        }
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        body = {
            "error": f"internal error ({type(exc).__name__})",
            "field": None,
            "value": None,
        }
        return JSONResponse(body, status_code=500)

    @app.get("/ping")
    def ping() -> Response:
        return Response(status_code=200)

    @app.post("/invocations")
    async def invocations(request: Request) -> JSONResponse:
        rid = (
            request.headers.get("x-amzn-sagemaker-inference-id")
            or uuid.uuid4().hex[:12]
        )
        ctype = (
            request.headers.get("content-type", "application/json")
            .split(";")[0]
            .strip()
        )
        if ctype not in ("application/json", ""):
            raise RequestError("ContentType", ctype, "expected application/json", 415)
        t0 = time.perf_counter()
        req = _parse(await request.body())
        asof: str | None = None
        if isinstance(req, InstancesRequest):
            x = _feature_matrix(req.instances)
            preds = _rows_answer(predictor.predict_rows(x), [int(h) for h in x[:, 0]])
        else:
            asof, frame = predictor.forecast(req.asof, req.horizons)
            preds = _rows_answer(
                frame[list(PROB_COLUMNS)].to_numpy(), frame["horizon"].tolist()
            )
        log.info(
            "request %s: %d rows in %.1f ms",
            rid,
            len(preds),
            1e3 * (time.perf_counter() - t0),
        )
        return JSONResponse(
            {
                "model_name": predictor.name,
                "model_version": predictor.version,
                "asof": asof,
                "predictions": preds,
            }
        )

    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m serving.sagemaker_app [serve] [options]``."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve"],
        help="SageMaker passes 'serve'; it is the only command.",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=Path(os.environ.get(MODEL_DIR_ENV, DEFAULT_MODEL_DIR)),
        help=f"Extracted model archive (env {MODEL_DIR_ENV}).",
    )
    parser.add_argument("--host", default="0.0.0.0", help="Bind address.")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get(PORT_ENV, "8080")),
        help=f"Port (env {PORT_ENV}; SageMaker expects 8080).",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    predictor = SageMakerPredictor.load(args.model_dir)
    log.info("loaded %s v%s from %s", predictor.name, predictor.version, args.model_dir)
    uvicorn.run(
        create_app(predictor), host=args.host, port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
