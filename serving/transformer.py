"""KServe transformer: a simple forecast request in, V2 call to MLServer, regimes out.

Run ``python -m serving.transformer`` (KServe appends ``--predictor_host``). Endpoint::

    POST /v1/models/<name>:predict   {"asof": "2025-05-27", "horizons": [1, 7, 30]}

The request is validated and turned into model inputs with the same ``ml`` code as
training (as-of days are looked up in a table computed once from the served candles;
caller candles are validated and featurised per request), then sent to the predictor
as one V2 ``predict_proba`` call.

With the served version's ``structural.json`` (see ``TransformerSettings.structural_path``)
every forecast also carries the volatility level over (t, t+h] with its 80% interval
(``vol_forecast``, ``vol_lo``, ``vol_hi``), and ``thresholds`` other than the trained
ones are answered by carrying the classifier's probabilities to the requested bands
through that model's V30 distribution (``probabilities_from: "classifier+structural"``,
:func:`ml.distribution.anchor_probabilities`: coherent in the thresholds and equal to
the classifier, ``"classifier"``, at the trained ones). A request with
``"probabilities_from": "structural"`` gets that model's own probabilities instead
(still one predictor call, so the answer names the served version). Every refusal is a 4xx JSON body naming the field and
the value; a predictor that is down or slow gives 503, never a traceback.

This module runs in the kserve environment: it imports only ``ml``, ``serving.v2`` and
``serving.transformer_schema`` (no mlflow, kfp or mlserver).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import kserve
import numpy as np
import pandas as pd
from fastapi import Request
from fastapi.responses import JSONResponse
from kserve import model_server
from kserve.errors import InvalidInput
from kserve.protocol.rest.server import RESTServer

from ml.data import OPEN_TIME, bundled_path, read_candles
from ml.distribution import ANCHOR_FLOOR, PROB_FLOOR, anchor_probabilities
from ml.errors import BVPError, DataValidationError, InsufficientHistoryError
from ml.inference import (
    FeatureTable,
    build_feature_table,
    check_horizons,
    forecast_records,
    inference_matrix,
    resolve_asof,
)
from ml.labels import MAX_THRESHOLD, check_thresholds
from ml.panel import Panel, build_panel
from ml.settings import Settings
from ml.structural import (
    STRUCTURAL_FILE,
    StructuralTable,
    forecast_asof,
    structural_from_dict,
)
from ml.validation import validate_candles
from serving.transformer_schema import (
    ForecastRequest,
    RequestError,
    candles_frame,
    error_body,
    from_domain,
    parse_request,
)
from serving.v2 import PredictorUnavailableError, build_infer_request, parse_proba

__all__ = ["ForecastTransformer", "build_parser", "main"]

log = logging.getLogger(__name__)

INSTANCES = "instances"
"""Key of a batch request: ``{"instances": [request, ...]}``."""
_RETRY_STATUS = {400, 404, 503}
"""Predictor answers retried: MLServer says "model not ready/found" while reloading."""


@dataclass
class _Item:
    asof: pd.Timestamp
    horizons: list[int]
    thresholds: tuple[float, float]
    structural: tuple[np.ndarray, np.ndarray] | None = None
    """Structural (probabilities, level) for this item, when the model is served."""
    flexible: bool = False
    """Thresholds differ from the trained ones: the classifier's probabilities are
    carried to them by the structural model (:func:`ml.distribution.anchor_probabilities`)."""
    at_trained: np.ndarray | None = None
    """Structural probabilities at the trained thresholds (flexible items only)."""
    source: str = "classifier"
    """``probabilities_from`` as requested: ``classifier`` or ``structural``."""


@dataclass(frozen=True)
class _Served:
    """What answers need from the served version, for the thresholds it was trained
    for (``structural.json``'s ``thresholds``; the settings' without the file)."""

    thresholds: tuple[float, float]
    panel: Panel
    table: FeatureTable
    """Model inputs of every served day: the regime-prior features use ``thresholds``."""
    structural: StructuralTable | None
    stamp: int | None
    """``st_mtime_ns`` of the ``structural.json`` it was built from (None: no file)."""


@dataclass
class _Prepared:
    items: list[_Item]
    x: np.ndarray
    batch: bool
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class ForecastTransformer(kserve.Model):
    """Features in front of the V2 predictor; see the module docstring."""

    def __init__(self, name: str, settings: Settings, predictor_url: str) -> None:
        super().__init__(name)
        self.settings = settings
        self.predictor_url = predictor_url.rstrip("/")
        self._client: httpx.AsyncClient | None = None
        self._served: _Served | None = None
        self._served_lock = threading.Lock()

    @property
    def structural_path(self) -> Path:
        """Where the served version's structural model is read from."""
        return self.settings.transformer.structural_path or (
            self.settings.home / "serving" / "repo" / self.settings.mlflow.model_name
            / STRUCTURAL_FILE
        )  # fmt: skip

    def served(self) -> _Served:
        """The served version's thresholds, inputs and structural table, rebuilt when
        its ``structural.json`` changes (a reload), for the thresholds it was trained
        for: those come with the model, not from this server's settings."""
        path = self.structural_path
        try:
            stamp: int | None = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        current = self._served
        if current is not None and current.stamp == stamp:
            return current
        with self._served_lock:  # one rebuild per change, not one per request
            if self._served is None or self._served.stamp != stamp:
                self._served = self._build(path, stamp)
            return self._served

    def _build(self, path: Path, stamp: int | None) -> _Served:
        configured = check_thresholds(self.settings.target.thresholds)
        before = self._served
        data = None
        if stamp is None:
            thresholds = before.thresholds if before is not None else configured
            if before is not None and before.structural is not None:
                log.warning("%s is gone: level forecast and thresholds disabled", path)
        else:
            data = json.loads(path.read_text())
            try:
                thresholds = check_thresholds(data.get("thresholds", configured))
            except DataValidationError as exc:
                raise DataValidationError(
                    f"{path}: thresholds", exc.value, exc.rule
                ) from None
        if before is not None and before.thresholds == thresholds:
            panel, table = before.panel, before.table
        else:
            if thresholds != configured:
                log.warning(
                    "the served version was trained for thresholds %s; "
                    "BVP_TARGET__THRESHOLDS says %s: answering for the model's",
                    list(thresholds), list(configured),
                )  # fmt: skip
            max_h = self.settings.target.max_horizon
            panel = build_panel(self.candles, self.candles_4h, thresholds, max_h)
            table = build_feature_table(
                self.candles, self.candles_4h, max_h, thresholds
            )
        structural = None
        if data is not None:
            structural = StructuralTable(structural_from_dict(data), panel)
            log.info("structural model loaded from %s", path)
        return _Served(thresholds, panel, table, structural, stamp)

    def load(self) -> bool:
        """Read and validate the served candles, then compute every as-of row once."""
        d = self.settings.data
        daily = read_candles(d.daily_path or bundled_path("1d"))
        validate_candles(daily, "1d", d.gap_policy_1d)
        h4_path = d.h4_path or (bundled_path("4h") if d.daily_path is None else None)
        h4 = read_candles(h4_path) if d.use_4h and h4_path is not None else None
        if h4 is not None:
            validate_candles(h4, "4h", d.gap_policy_4h)
        self.candles, self.candles_4h = daily, h4
        served = self.served()
        if served.structural is None:
            log.warning("no %s: answers carry no volatility level and refuse "
                        "thresholds other than %s", self.structural_path,
                        list(served.thresholds))  # fmt: skip
        log.info("served candles %s..%s (%d days)", daily.iloc[0, 0].date(),
                 daily.iloc[-1, 0].date(), len(daily))  # fmt: skip
        self.ready = True
        return True

    async def predictor_not_ready(self) -> str | None:
        """Why the predictor's model cannot answer now, or None when it can."""
        url = f"{self.predictor_url}/v2/models/{self.name}/ready"
        t = self.settings.transformer
        try:
            resp = await self._predictor_client().get(
                url, timeout=t.predictor_timeout_s
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__} (is MLServer running?)"
        return None if resp.status_code == 200 else f"HTTP {resp.status_code}"

    def _predictor_client(self) -> httpx.AsyncClient:
        if self._client is None:
            t = self.settings.transformer
            self._client = httpx.AsyncClient(timeout=t.predictor_timeout_s)
        return self._client

    def validate(self, payload: Any) -> Any:
        """Requests are validated in :meth:`preprocess`; nothing left to check."""
        return payload

    async def preprocess(
        self, payload: Any, headers: dict[str, str] | None = None
    ) -> _Prepared:
        """Validate the request and compute the model inputs of every item."""
        try:
            return await self._preprocess(payload, headers)
        except RecursionError:  # JSON nested deeper than Python's recursion limit
            raise RequestError(
                "body", None, "body: nested too deeply, expected a request object "
                "like {\"asof\": \"2025-05-27\"}", 400,
            ) from None  # fmt: skip

    async def _preprocess(
        self, payload: Any, headers: dict[str, str] | None
    ) -> _Prepared:
        raw = _decode(payload)
        batch = isinstance(raw, dict) and INSTANCES in raw
        if batch:
            instances = raw[INSTANCES]
            if (
                set(raw) != {INSTANCES}
                or not isinstance(instances, list)
                or not instances
            ):
                raise RequestError(
                    INSTANCES, instances,
                    "instances: expected a non-empty list of requests and no other key",
                )  # fmt: skip
            limit = self.settings.transformer.max_batch
            if len(instances) > limit:
                raise RequestError(
                    INSTANCES, len(instances),
                    f"instances: got {len(instances)} requests, expected at most {limit} "
                    "(BVP_TRANSFORMER__MAX_BATCH)",
                )  # fmt: skip
            reqs = [
                parse_request(r, f"instances[{i}]") for i, r in enumerate(instances)
            ]
        else:
            reqs = [parse_request(raw)]
        own = sum(r.candles is not None for r in reqs)
        limit = self.settings.transformer.max_candle_instances
        if own > limit:
            raise RequestError(
                INSTANCES, own,
                f"instances: got {own} requests with their own candles, expected at most "
                f"{limit} per call (BVP_TRANSFORMER__MAX_CANDLE_INSTANCES); split the "
                "batch or ask for served days by asof",
            )  # fmt: skip
        items, mats = [], []
        for i, req in enumerate(reqs):
            where = f"instances[{i}]" if batch else ""
            item, x = await self._prepare(req, where)
            items.append(item)
            mats.append(x)
        rid = (headers or {}).get("x-request-id") or uuid.uuid4().hex
        return _Prepared(items, np.concatenate(mats), batch, rid)

    async def _prepare(
        self, req: ForecastRequest, where: str
    ) -> tuple[_Item, np.ndarray]:
        pre = f"{where}." if where else ""
        try:
            hs = check_horizons(
                req.horizons if req.horizons is not None else range(1, 31),
                self.settings.target.max_horizon,
            )
        except DataValidationError as exc:
            raise from_domain(exc, where) from None
        served = await asyncio.to_thread(self.served)
        structural = served.structural
        source = req.probabilities_from or "classifier"
        if source == "structural" and structural is None:
            raise RequestError(
                f"{pre}probabilities_from", source,
                f"{pre}probabilities_from: got 'structural', but this server has no "
                f"structural model ({self.structural_path} is missing); omit it or send "
                "'classifier'",
            )  # fmt: skip
        thresholds, flexible = self._thresholds(req.thresholds, pre, served)
        flexible = flexible and source == "classifier"
        floor = ANCHOR_FLOOR if flexible else PROB_FLOOR  # see ANCHOR_FLOOR
        extra, at_trained = None, None
        trained = served.thresholds
        try:
            if req.candles is None:
                day = resolve_asof(self.candles, req.asof)
                x = served.table.matrix(day, hs)
                if structural is not None:
                    extra = structural.forecast(day, hs, thresholds, floor)
                    if flexible:
                        at_trained = structural.forecast(day, hs, trained, floor)[0]
            else:
                day, x, extra, at_trained = await asyncio.to_thread(
                    self._from_candles, req, hs, pre, served, thresholds,
                    flexible, floor,
                )  # fmt: skip
        except InsufficientHistoryError as exc:
            err = from_domain(exc)
            err.field = f"{pre}{'asof' if req.candles is None else 'candles'}"
            raise err from None
        except DataValidationError as exc:
            raise from_domain(exc, where) from None
        return _Item(day, hs, thresholds, extra, flexible, at_trained, source), x

    def _from_candles(
        self, req: ForecastRequest, hs: list[int], pre: str, served: _Served,
        thresholds: tuple[float, float], flexible: bool = False,
        floor: float = PROB_FLOOR,
    ) -> tuple[pd.Timestamp, np.ndarray, tuple[np.ndarray, np.ndarray] | None,
               np.ndarray | None]:  # fmt: skip
        """(as-of day, model inputs, structural (probabilities, level) at ``thresholds``,
        structural probabilities at the trained thresholds when ``flexible``) from the
        caller's candles."""
        structural = served.structural
        assert req.candles is not None
        frames = {
            "candles": candles_frame(req.candles, f"{pre}candles"),
            "candles_4h": None,
        }
        if req.candles_4h is not None:  # [] is refused like candles: []
            frames["candles_4h"] = candles_frame(req.candles_4h, f"{pre}candles_4h")
        for key, interval, policy in (
            ("candles", "1d", "raise"),
            ("candles_4h", "4h", "report"),
        ):
            if frames[key] is not None:
                try:
                    validate_candles(frames[key], interval, policy,
                                     "send every daily candle, oldest first")  # fmt: skip
                except DataValidationError as exc:
                    raise from_domain(exc, f"{pre}{key}") from None
        daily = frames["candles"]
        day = resolve_asof(daily, req.asof)
        _check_4h_reach(frames["candles_4h"], day, f"{pre}candles_4h")
        x = inference_matrix(daily, frames["candles_4h"], day, hs, served.thresholds)
        extra, at_trained = None, None
        if structural is not None:
            probs = ["p_low", "p_normal", "p_high"]
            f = forecast_asof(structural.model, daily, frames["candles_4h"], day,
                              thresholds, self.settings.target.max_horizon, floor)  # fmt: skip
            rows = f.set_index("horizon").loc[hs]
            extra = (rows[probs].to_numpy(),
                     rows[["vol_forecast", "vol_lo", "vol_hi"]].to_numpy())  # fmt: skip
            if flexible:
                g = forecast_asof(structural.model, daily, frames["candles_4h"], day,
                                  served.thresholds, self.settings.target.max_horizon,
                                  floor)  # fmt: skip
                at_trained = g.set_index("horizon").loc[hs, probs].to_numpy()
        return day, x, extra, at_trained

    def _thresholds(
        self, given: list[float] | None, pre: str, current: _Served
    ) -> tuple[tuple[float, float], bool]:
        """(thresholds to answer for, whether they differ from the trained ones)."""
        served, flexible = current.thresholds, current.structural is not None
        if given is None:
            return served, False
        if not 0 < given[0] < given[1] <= MAX_THRESHOLD:
            raise RequestError(
                f"{pre}thresholds", given,
                f"{pre}thresholds: got {given}, expected two increasing numbers "
                f"0 < low < high <= {MAX_THRESHOLD:g} (annualised volatility, 0.40 = 40%)",
            )  # fmt: skip
        if np.allclose(given, served):
            return served, False
        if not flexible:
            raise RequestError(
                f"{pre}thresholds", given,
                f"{pre}thresholds: got {given}, but this server has no structural model "
                f"({self.structural_path} is missing), so it predicts regimes for "
                f"{list(served)} only; omit thresholds or send the trained ones",
            )  # fmt: skip
        return (float(given[0]), float(given[1])), True

    async def predict(self, payload: _Prepared, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        """One V2 ``predict_proba`` call for all items; 503 when the predictor fails."""
        body = await self._infer(build_infer_request(payload.x, payload.request_id))
        return payload, parse_proba(body), body

    async def _infer(self, request: dict[str, Any]) -> dict[str, Any]:
        t = self.settings.transformer
        client = self._predictor_client()
        url = f"{self.predictor_url}/v2/models/{self.name}/infer"
        reason = ""
        for attempt in range(t.predictor_retries + 1):
            if attempt:
                await asyncio.sleep(t.predictor_backoff_s * attempt)
            try:
                resp = await client.post(url, json=request)
            except httpx.TimeoutException:
                raise PredictorUnavailableError(
                    self.predictor_url, f"no answer within {t.predictor_timeout_s} s "
                    "(BVP_TRANSFORMER__PREDICTOR_TIMEOUT_S)",
                ) from None  # fmt: skip
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__} (is MLServer running?)"
                continue
            if resp.status_code == 200:
                return resp.json()  # type: ignore[no-any-return]
            reason = f"HTTP {resp.status_code}: {resp.text[:200]}"
            if resp.status_code not in _RETRY_STATUS:
                break
        raise PredictorUnavailableError(self.predictor_url, reason)

    async def postprocess(self, result: Any, headers: dict[str, str] | None = None,
                          response_headers: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
        """Per item: one row per horizon with regime and probabilities, plus the model."""
        prepared, proba, body = result
        out, start = [], 0
        for item in prepared.items:
            p = proba[start : start + len(item.horizons)]
            start += len(item.horizons)
            if item.source == "structural":
                assert item.structural is not None
                p = item.structural[0]
                source = "structural"
            elif item.flexible:
                assert item.structural is not None and item.at_trained is not None
                p = anchor_probabilities(p, item.at_trained, item.structural[0])
                source = "classifier+structural"
            else:
                source = "classifier"
            records = forecast_records(item.asof, item.horizons, p)
            for k, r in enumerate(records):
                r["target_date"] = r["target_date"].isoformat()
                if item.structural is not None:
                    lv = item.structural[1][k]
                    r.update(
                        vol_forecast=float(lv[0]),
                        vol_lo=float(lv[1]),
                        vol_hi=float(lv[2]),
                    )
            out.append({
                "asof": str(item.asof.date()),
                "thresholds": list(item.thresholds),
                "probabilities_from": source,
                "forecasts": records,
            })  # fmt: skip
        head = {"model_name": body.get("model_name", self.name),
                "model_version": str(body.get("model_version") or ""), "id": prepared.request_id}  # fmt: skip
        return {**head, "predictions": out} if prepared.batch else {**head, **out[0]}


def _check_4h_reach(h4: pd.DataFrame | None, day: pd.Timestamp, field: str) -> None:
    """Refuse 4-hour candles that miss the 30 days up to the as-of day: the features
    would silently fall back to daily returns, as if none had been sent."""
    if h4 is None:
        return
    t = h4[OPEN_TIME]
    start, end = day - pd.Timedelta(days=29), day + pd.Timedelta(days=1)
    if not ((t >= start) & (t < end)).any():
        first, last = t.iloc[0].date(), t.iloc[-1].date()
        raise RequestError(
            field, f"{first}..{last}",
            f"{field}: got candles from {first} to {last}, expected some in the 30 days "
            f"{start.date()}..{day.date()} up to the as-of day (the 4-hour features "
            "read them); omit candles_4h to use daily candles only",
        )  # fmt: skip


def _decode(payload: Any) -> Any:
    """The request as JSON values: raw bytes are parsed here (a body kserve did not
    parse), anything JSON goes on to :func:`parse_request`, which names the body."""
    if isinstance(payload, bytes):
        try:
            return json.loads(payload, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise RequestError(
                "body",
                payload.decode(errors="replace"),
                f"body: expected JSON ({why})",
                400,
            ) from None
    if isinstance(payload, dict | list | str | int | float | bool) or payload is None:
        return payload  # all but a dict are refused by parse_request, naming the body
    raise RequestError(
        "body", type(payload).__name__,
        "body: expected a JSON object; V2 tensors are not accepted here, POST JSON to "
        "/v1/models/<name>:predict",
        400,
    )  # fmt: skip


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON; send finite numbers")


_BODY_KEY = "bvp.body"
"""ASGI scope key of the request body as read (at most the body limit)."""


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413 before they are read or parsed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send, int(length))
            return
        seen = 0
        kept = scope.setdefault(_BODY_KEY, bytearray())  # for _invalid_input

        async def counting() -> dict[str, Any]:
            nonlocal seen
            msg: dict[str, Any] = await receive()
            chunk = msg.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                raise _TooLarge(seen)
            kept.extend(chunk)
            return msg

        try:
            await self.app(scope, counting, send)
        except _TooLarge as exc:
            await self._refuse(scope, receive, send, exc.size)

    async def _refuse(
        self, scope: dict[str, Any], receive: Any, send: Any, size: int
    ) -> None:
        err = RequestError(
            "body", size,
            f"body: got {size} bytes, expected at most {self.max_bytes} "
            "(BVP_TRANSFORMER__MAX_BODY_BYTES)", 413,
        )  # fmt: skip
        await JSONResponse(error_body(err), status_code=413)(scope, receive, send)


class ReadinessMiddleware:
    """Readiness routes answer 503 while the predictor cannot (KServe's own predictor
    check reads MLServer's empty 200 bodies as JSON and fails); liveness and the
    inference routes are untouched."""

    def __init__(
        self, app: Any, model_name: str, not_ready: Callable[[], Awaitable[str | None]]
    ) -> None:
        self.app, self.not_ready = app, not_ready
        self.paths = {"/v2/health/ready", f"/v2/models/{model_name}/ready"}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") in self.paths:
            reason = await self.not_ready()
            if reason is not None:
                body = {"error": f"predictor not ready: {reason}", "field": None,
                        "value": None}  # fmt: skip
                await JSONResponse(body, status_code=503)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def _request_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestError)
    return JSONResponse(error_body(exc), status_code=exc.status_code)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DataValidationError):
        return await _request_error(_, from_domain(exc))
    assert isinstance(exc, BVPError)
    status = exc.status_code
    if status >= 500:
        log.warning("answered %d: %s", status, exc)
    return JSONResponse(
        {"error": str(exc), "field": None, "value": None}, status_code=status
    )


async def _invalid_input(request: Request, exc: Exception) -> JSONResponse:
    """kserve refused the body before :meth:`preprocess` saw it (its JSON parser):
    parse the kept body ourselves, so the answer names what is wrong (NaN, say)."""
    body = request.scope.get(_BODY_KEY)
    if body:
        try:
            _decode(bytes(body))
        except RequestError as err:
            return await _request_error(request, err)
    return JSONResponse(
        {"error": f"body: {exc}", "field": "body", "value": None}, status_code=400
    )


class _RestServer(RESTServer):
    """KServe's REST server bound to the configured host, with our error bodies."""

    def __init__(
        self, *args: Any, host: str, max_body_bytes: int,
        readiness: ForecastTransformer | None, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.config.host = host
        self.max_body_bytes = max_body_bytes
        self.readiness = readiness

    def create_application(self) -> None:
        super().create_application()
        app = model_server.app
        app.add_exception_handler(RequestError, _request_error)
        app.add_exception_handler(BVPError, _domain_error)
        app.add_exception_handler(InvalidInput, _invalid_input)
        app.add_middleware(BodyLimitMiddleware, max_bytes=self.max_body_bytes)
        if self.readiness is not None:
            app.add_middleware(ReadinessMiddleware, model_name=self.readiness.name,
                               not_ready=self.readiness.predictor_not_ready)  # fmt: skip


class _ModelServer(kserve.ModelServer):
    """Single-worker ModelServer whose REST server is :class:`_RestServer`."""

    def __init__(
        self, host: str, max_body_bytes: int, readiness: ForecastTransformer | None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.host, self.max_body_bytes = host, max_body_bytes
        self.readiness = readiness

    def start(self, models: list[kserve.Model]) -> None:  # type: ignore[override]
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = _RestServer(
            model_server.FASTAPI_APP_IMPORT_STRING, self.dataplane,
            self.model_repository_extension, self.http_port,
            access_log_format=self.access_log_format, workers=1,
            grace_period=self.grace_period, event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
            host=self.host, max_body_bytes=self.max_body_bytes, readiness=self.readiness,
        )  # fmt: skip
        self.servers.append(self._rest_server.start())
        if self.enable_grpc:
            self._grpc_server = model_server.GRPCServer(
                self.grpc_port, self.dataplane, self.model_repository_extension,
                kwargs=vars(model_server.args), grace_period=self.grace_period,
            )  # fmt: skip
            self.servers.append(self._grpc_server.start(self.max_threads))
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """KServe's model-server flags, with defaults taken from the settings."""
    p = argparse.ArgumentParser(
        parents=[model_server.parser], description=__doc__.split("\n")[0]
    )
    t, s = settings.transformer, settings.serving
    p.set_defaults(
        model_name=settings.mlflow.model_name, http_port=t.http_port, grpc_port=t.grpc_port,
        predictor_host=f"{s.host}:{s.http_port}", predictor_protocol="v2", protocol="v2",
        enable_grpc=False,
    )  # fmt: skip
    return p


def predictor_base_url(host: str, use_ssl: bool = False) -> str:
    """Base URL of the predictor from KServe's ``--predictor_host`` (host[:port])."""
    if host.startswith(("http://", "https://")):
        return host
    return f"{'https' if use_ssl else 'http'}://{host}"


def main(argv: list[str] | None = None) -> None:
    """Start the transformer (blocking)."""
    settings = Settings()
    args, _ = build_parser(settings).parse_known_args(argv)
    if args.predictor_protocol not in ("v2",):
        raise SystemExit(
            f"--predictor_protocol: got {args.predictor_protocol!r}, expected v2"
        )
    logging.getLogger().setLevel(settings.log_level)
    model = ForecastTransformer(
        args.model_name,
        settings,
        predictor_base_url(args.predictor_host, args.predictor_use_ssl),
    )
    try:
        model.load()
    except BVPError as exc:  # a bad candle file or setting: one line, not a traceback
        raise SystemExit(f"transformer: cannot load the served data: {exc}") from None
    _ModelServer(
        host=settings.transformer.host,
        max_body_bytes=settings.transformer.max_body_bytes,
        readiness=model if settings.transformer.predictor_health_check else None,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        enable_grpc=args.enable_grpc,
        enable_latency_logging=args.enable_latency_logging,
    ).start([model])


if __name__ == "__main__":
    main()
