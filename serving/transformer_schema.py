"""Request models of the transformer and the conversion of their errors to one body.

Requests are strict: unknown fields, nulls, non-finite or non-numeric values and wrong
candle columns are refused here, before any feature is computed, so nothing reaches the
predictor that it would answer with a 500 or silently treat as missing.

Error body (every 4xx)::

    {"error": "<sentence>", "field": "candles[3].Close", "value": null}

plus ``at`` (row time) and ``needed``/``got`` (history) when known.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ml.data import CANDLE_COLUMNS, CANDLE_HEADER, KLINE_HEADER, candles_from_klines
from ml.errors import BVPError, DataValidationError, InsufficientHistoryError

__all__ = [
    "CANDLE_FIELDS",
    "OPTIONAL_CANDLE_FIELDS",
    "CandleRow",
    "ForecastRequest",
    "RequestError",
    "candles_frame",
    "error_body",
    "parse_request",
]

CANDLE_FIELDS = CANDLE_HEADER
"""Required keys of a candle object (Kaggle export / Binance kline header)."""
OPTIONAL_CANDLE_FIELDS = KLINE_HEADER[len(CANDLE_HEADER) :]
"""Further Binance kline columns: accepted and ignored."""
_ALL_FIELDS = (*CANDLE_FIELDS, *OPTIONAL_CANDLE_FIELDS)


class RequestError(BVPError):
    """A request broke the transformer's contract (HTTP 4xx with a JSON body).

    Args:
        field: Offending field path, e.g. ``candles[3].Close``.
        value: Offending value (JSON-serialisable).
        message: Full sentence naming what was expected.
        status_code: HTTP status (400 unreadable, 413 too large, 422 invalid).
    """

    def __init__(
        self, field: str, value: Any, message: str, status_code: int = 422
    ) -> None:
        self.field = field
        self.value = value
        self.status_code = status_code
        super().__init__(message)


def _number(v: Any) -> float:
    if v is None:
        raise ValueError("expected a number, got null")
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"expected a number, got {type(v).__name__}")
    try:
        f = float(v)
    except ValueError:
        raise ValueError(f"expected a number, got {v!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"expected a finite number, got {v!r}")
    return f


def _time(v: Any) -> int | str:
    if isinstance(v, bool) or not isinstance(v, int | str) or v == "":
        raise ValueError(
            f"expected epoch milliseconds or a time like 2024-03-01 00:00:00, got {v!r}"
        )
    return v


Number = Annotated[float, BeforeValidator(_number)]
Time = Annotated[int | str, BeforeValidator(_time)]


class CandleRow(BaseModel):
    """One candle as an object with the Kaggle/Binance header keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    open_time: Time = Field(
        alias="Open time", description="Candle open: epoch ms or UTC time."
    )
    open: Number = Field(alias="Open", description="Open price.")
    high: Number = Field(alias="High", description="High price.")
    low: Number = Field(alias="Low", description="Low price.")
    close: Number = Field(alias="Close", description="Close price.")
    volume: Number = Field(alias="Volume", description="Base-asset volume.")


class ForecastRequest(BaseModel):
    """One forecast: an as-of day from the served candles, or the caller's candles."""

    model_config = ConfigDict(extra="forbid")

    asof: str | None = Field(
        None,
        description="As-of day YYYY-MM-DD. Default: the latest candle (of the served "
        "data, or of `candles`).",
    )
    candles: list[Any] | None = Field(
        None,
        description="Daily candles, oldest first, at least 91 consecutive days: objects "
        'with keys "Open time","Open","High","Low","Close","Volume" (further Binance '
        "kline keys allowed), or Binance kline arrays [open_time_ms, open, high, low, "
        "close, volume, ...]. Omit to use the served data.",
    )
    candles_4h: list[Any] | None = Field(
        None,
        description="Optional 4-hour candles in the same layout (only with candles).",
    )
    horizons: list[Annotated[int, Field(strict=True)]] | None = Field(
        None, description="Horizons in days, unique, each in 1..30. Default: 1..30."
    )
    thresholds: (
        list[Annotated[float, Field(strict=True, allow_inf_nan=False)]] | None
    ) = Field(
        None,
        min_length=2,
        max_length=2,
        description="[low, high] V30 cut points as numbers, 0 < low < high <= 10 "
        "(annualised volatility, 0.40 = 40%). Default: the model's.",
    )
    probabilities_from: Literal["classifier", "structural"] | None = Field(
        None,
        description='Which model gives the regime probabilities: "classifier" (the '
        "XGBoost model on MLServer; at other thresholds carried to them by the "
        'structural model) or "structural" (the volatility pool on its own: better '
        "log loss in the walk-forward bench, any thresholds). Default: classifier.",
    )


def _path(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        out += (
            f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        )
    return out


def _from_validation(exc: ValidationError, prefix: str = "") -> RequestError:
    err = exc.errors(include_url=False)[0]
    field = _path(tuple(err["loc"]), prefix)
    value = err.get("input")
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        allowed = (
            _ALL_FIELDS if "candles" in prefix else tuple(ForecastRequest.model_fields)
        )
        msg = f"unknown field; expected only {', '.join(allowed)}"
    elif err["type"] == "missing":
        msg = "required field is missing"
        value = None
    if "got " not in msg:  # the validators' own messages already show the value
        msg = f"{msg} (got {_brief(value)})"
    return RequestError(field, value, f"{field}: {msg}")


def _brief(v: Any, limit: int = 120) -> str:
    """A value as the caller wrote it (JSON; repr for what JSON cannot hold), cut to
    ``limit`` characters (an error never echoes megabytes)."""
    try:
        text = json.dumps(v, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(v)
    return _cut(text, limit)


def parse_request(raw: Any, where: str = "") -> ForecastRequest:
    """Validate one request object.

    Raises:
        RequestError: The first broken rule, naming the field path and the value.
    """
    if not isinstance(raw, dict):
        field = where or "body"
        raise RequestError(
            field, raw if isinstance(raw, str | int | float | None) else type(raw).__name__,
            f"{field}: expected a JSON object like {{\"asof\": \"2025-05-27\"}}",
        )  # fmt: skip
    try:
        req = ForecastRequest.model_validate(raw)
    except ValidationError as exc:
        raise _from_validation(exc, where) from None
    if req.candles_4h is not None and req.candles is None:
        raise RequestError(
            f"{where}.candles_4h" if where else "candles_4h", len(req.candles_4h),
            "candles_4h: only allowed together with candles (the served data has its own)",
        )  # fmt: skip
    return req


def _row(raw: Any, field: str, i: int) -> list[Any]:
    if isinstance(raw, list):
        if not 6 <= len(raw) <= len(_ALL_FIELDS):
            raise RequestError(
                f"{field}[{i}]", raw,
                f"{field}[{i}]: expected a kline array of 6 to 12 values "
                f"[{', '.join(_ALL_FIELDS[:6])}, ...], got {len(raw)} values",
            )  # fmt: skip
        raw = dict(zip(_ALL_FIELDS, raw, strict=False))
    elif not isinstance(raw, dict):
        raise RequestError(
            f"{field}[{i}]", raw if isinstance(raw, str | int | float | None) else str(raw),
            f"{field}[{i}]: expected a candle object or kline array",
        )  # fmt: skip
    try:
        row = CandleRow.model_validate(
            {k: v for k, v in raw.items() if k not in OPTIONAL_CANDLE_FIELDS}
        )
    except ValidationError as exc:
        raise _from_validation(exc, f"{field}[{i}]") from None
    return [row.open_time, row.open, row.high, row.low, row.close, row.volume]


def candles_frame(rows: list[Any], field: str) -> pd.DataFrame:
    """Canonical candle frame from request rows (structure checked row by row).

    Raises:
        RequestError: A row with a wrong key set, a null, a non-number or a bad time.
    """
    if not rows:
        raise RequestError(
            field, [], f"{field}: expected at least one candle, got none"
        )
    klines = [_row(r, field, i) for i, r in enumerate(rows)]
    try:
        return candles_from_klines(klines)
    except DataValidationError as exc:
        raise from_domain(exc, field) from None


_REQUEST_KEYS = dict(zip(CANDLE_COLUMNS, CANDLE_FIELDS, strict=True))


def from_domain(exc: DataValidationError, prefix: str = "") -> RequestError:
    """Translate an ``ml`` validation error into a request error.

    The message names the field as the request does: ``instances[1].asof``, not
    ``asof``; a candle row as ``candles[20].Open time`` (0-based, like the request's
    own errors), not ``open_time at row 21`` or ``close at 2024-01-05T00:00Z`` (the
    time stays in ``at``).
    """
    field = f"{prefix}.{exc.column}" if prefix else exc.column
    message, at = str(exc), exc.at
    if exc.row is not None and prefix.split(".")[-1] in ("candles", "candles_4h"):
        key = _REQUEST_KEYS.get(exc.column, exc.column)
        field = f"{prefix}[{exc.row}].{key}"
        message = field + message.removeprefix(f"{exc.column} at {at}")
        if str(at).startswith("row "):  # the position is in the field already
            at = None
    elif prefix and message.startswith(exc.column):
        message = field + message.removeprefix(exc.column)
    err = RequestError(field, exc.value, message, status_code=exc.status_code)
    err.at = at  # type: ignore[attr-defined]
    if isinstance(exc, InsufficientHistoryError):
        err.needed, err.got = exc.needed, exc.got  # type: ignore[attr-defined]
    return err


def error_body(exc: RequestError) -> dict[str, Any]:
    """The JSON body of a 4xx answer."""
    body: dict[str, Any] = {  # every part bounded: a 1 MB key or value is not echoed
        "error": _cut(str(exc), 600),
        "field": _cut(exc.field, 200) if isinstance(exc.field, str) else exc.field,
        "value": _jsonable(exc.value),
    }
    for extra in ("at", "needed", "got"):
        if getattr(exc, extra, None) is not None:
            body[extra] = _jsonable(getattr(exc, extra))
    return body


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _jsonable(v: Any, depth: int = 0) -> Any:
    """The error body's ``value``: JSON-safe and small (strings cut to 200
    characters, lists to 20 items, nesting to 3 levels)."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, bool | int | float) or v is None:
        return v
    if isinstance(v, str):
        return _cut(v, 200)
    if isinstance(v, list | tuple) and depth < 3:
        return [_jsonable(x, depth + 1) for x in v[:20]]
    if isinstance(v, dict) and depth < 3:
        return {
            _cut(str(k), 200): _jsonable(x, depth + 1) for k, x in list(v.items())[:20]
        }
    return _brief(v, 200)
