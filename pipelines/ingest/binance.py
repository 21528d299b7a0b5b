"""Binance spot klines client: paging, closed candles only, retries, typed errors.

Wire format (``GET /api/v3/klines?symbol=&interval=&startTime=&endTime=&limit=``): a
JSON array of arrays ``[open_time_ms, "open", "high", "low", "close", "volume",
close_time_ms, "quote_volume", trades, "taker_base", "taker_quote", "ignore"]``,
ascending, at most ``limit`` (<= 1000) rows whose open time lies in
``[startTime, endTime]``. The newest row is the still-open candle.

HTTP client: ``httpx`` (already a core dependency, sync API, explicit timeouts,
``MockTransport`` for tests). Retries are hand-written (~30 lines) rather than a retry
library because Binance's rules are specific: honour ``Retry-After`` on 429/418, back
off on 5xx, never retry 451 or a malformed body.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pandas as pd

from ml._typing import Interval
from ml.data import candles_from_klines
from ml.errors import (
    ConfigError,
    DataValidationError,
    SourceBlockedError,
    SourceError,
    SourcePayloadError,
    SourceUnavailableError,
)
from ml.ingest import closed_candles, empty_candles
from ml.settings import DataSettings

__all__ = [
    "ALTERNATIVE_BASE_URL",
    "BASE_URL_SETTING",
    "INTERVAL_MS",
    "KLINES_PATH",
    "BinanceClient",
]

log = logging.getLogger(__name__)

KLINES_PATH = "/api/v3/klines"
MAX_PAGE = 1000
BASE_URL_SETTING = "BVP_DATA__BINANCE_BASE_URL"
ALTERNATIVE_BASE_URL = "https://data-api.binance.vision"
INTERVAL_MS: dict[str, int] = {"1d": 86_400_000, "4h": 14_400_000}
RETRY_STATUSES = frozenset({418, 429, 500, 502, 503, 504})
SOURCE = "binance"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class BinanceClient:
    """Fetch closed klines for one symbol, paging through any range.

    Args:
        base_url: Spot REST base URL (``https://api.binance.com`` or the
            market-data host).
        symbol: Trading pair, e.g. ``BTCUSDT``.
        timeout_s: Per-request timeout.
        max_retries: Retries per request after 429/418/5xx or a network error.
        backoff_s: First backoff delay (doubles per retry) without ``Retry-After``.
        max_wait_s: Longest single wait; a longer ``Retry-After`` fails at once.
        page_limit: Rows per request (1..1000).
        sleep: Called with seconds to wait (injectable for tests).
        clock: Returns the current time in epoch milliseconds (injectable).
        transport: Optional httpx transport (tests).
    """

    def __init__(
        self,
        base_url: str,
        symbol: str = "BTCUSDT",
        *,
        timeout_s: float = 10.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_wait_s: float = 120.0,
        page_limit: int = MAX_PAGE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], int] = _now_ms,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                BASE_URL_SETTING, base_url, "an http(s) URL",
                f"Use https://api.binance.com or {ALTERNATIVE_BASE_URL}.",
            )  # fmt: skip
        if not 1 <= page_limit <= MAX_PAGE:
            raise DataValidationError("page_limit", page_limit, "expected 1..1000")
        self.base_url = base_url.rstrip("/")
        self.symbol = symbol
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.page_limit = page_limit
        self.sleep = sleep
        self.clock = clock
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout_s, transport=transport
        )

    @classmethod
    def from_settings(cls, data: DataSettings, **overrides: Any) -> BinanceClient:
        """Build a client from the ``data`` settings group."""
        kwargs: dict[str, Any] = {
            "timeout_s": data.binance_timeout_s,
            "max_retries": data.binance_max_retries,
            "backoff_s": data.binance_backoff_s,
            "max_wait_s": data.binance_max_wait_s,
            "page_limit": data.binance_page_limit,
        }
        kwargs.update(overrides)
        return cls(data.binance_base_url, data.binance_symbol, **kwargs)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> BinanceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch_candles(
        self,
        interval: Interval,
        start_ms: int,
        end_ms: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        """Fetch every closed candle opening in ``[start_ms, end_ms]``.

        Args:
            interval: ``1d`` or ``4h``.
            start_ms: First open time wanted, epoch ms (inclusive).
            end_ms: Last open time wanted, epoch ms (inclusive); None means now.
            progress: Called with the number of rows each page returned.

        Returns:
            Canonical candle frame, ascending, unique, closed candles only. Candles
            missing at the source stay missing (the store's gap report shows them).

        Raises:
            SourceBlockedError: HTTP 451.
            SourcePayloadError: Body is not a klines array, or paging did not advance.
            SourceUnavailableError: Retries exhausted or a too-long ``Retry-After``.
            SourceError: Any other non-2xx answer (e.g. invalid symbol).
        """
        if interval not in INTERVAL_MS:
            raise DataValidationError("interval", interval, "expected one of 1d, 4h")
        now = self.clock()
        end = now if end_ms is None else min(end_ms, now)
        rows: list[list[Any]] = []
        cursor = start_ms
        while cursor <= end:
            page = self._get_page(interval, cursor, end)
            if progress is not None:
                progress(len(page))
            if not page:
                break
            last_open = page[-1][0]
            if last_open < cursor:
                raise SourcePayloadError(
                    SOURCE, self._url(interval, cursor, end),
                    f"rows opening at or after startTime={cursor}",
                    f"last row opens at {last_open}",
                )  # fmt: skip
            rows += [r for r in page if not rows or r[0] > rows[-1][0]]
            if len(page) < self.page_limit:
                break
            cursor = last_open + 1
        frame = candles_from_klines(rows) if rows else empty_candles()
        closed = closed_candles(frame, interval, pd.Timestamp(now, unit="ms"))
        if len(closed) < len(frame):
            log.info("dropped %d still-open candle(s)", len(frame) - len(closed))
        return closed

    def _url(self, interval: str, start: int, end: int) -> str:
        return (
            f"{self.base_url}{KLINES_PATH}?symbol={self.symbol}&interval={interval}"
            f"&startTime={start}&endTime={end}&limit={self.page_limit}"
        )

    def _get_page(self, interval: str, start: int, end: int) -> list[list[Any]]:
        params = {
            "symbol": self.symbol,
            "interval": interval,
            "startTime": start,
            "endTime": end,
            "limit": self.page_limit,
        }
        url = self._url(interval, start, end)
        response = self._request(params, url)
        try:
            body = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            got = response.content[-60:].decode("utf-8", "replace")
            raise SourcePayloadError(
                SOURCE, url, f"a JSON array of klines ({exc})", f"...{got}"
            ) from exc
        _check_klines(body, url)
        return body  # type: ignore[no-any-return]

    def _request(self, params: dict[str, Any], url: str) -> httpx.Response:
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                response = self._http.get(KLINES_PATH, params=params)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {str(exc).rstrip('.')}"
                wait = self._backoff(attempt)
            else:
                status = response.status_code
                if status < 300:
                    return response
                if status == 451:
                    raise SourceBlockedError(
                        SOURCE, url, BASE_URL_SETTING, ALTERNATIVE_BASE_URL
                    )
                if status not in RETRY_STATUSES:
                    raise SourceError(
                        SOURCE, url, f"got HTTP {status}: {_msg(response)}"
                    )
                last = f"HTTP {status}: {_msg(response)}"
                wait = self._retry_after(response, attempt, url)
            if attempt == self.max_retries:
                break
            log.warning(
                "binance %s; retry %d/%d in %.1fs", last, attempt + 1,
                self.max_retries, wait,
            )  # fmt: skip
            self.sleep(wait)
        raise SourceUnavailableError(
            SOURCE, url, self.max_retries + 1, last,
            "Try again later, raise BVP_DATA__BINANCE_MAX_RETRIES, "
            "or check the network.",
        )  # fmt: skip

    def _backoff(self, attempt: int) -> float:
        return float(min(self.max_wait_s, self.backoff_s * 2**attempt))

    def _retry_after(self, response: httpx.Response, attempt: int, url: str) -> float:
        header = response.headers.get("Retry-After")
        try:
            wait = float(header) if header is not None else None
        except ValueError:
            wait = None
        if wait is None:
            return self._backoff(attempt)
        if wait > self.max_wait_s:
            raise SourceUnavailableError(
                SOURCE, url, attempt + 1,
                f"HTTP {response.status_code} with Retry-After: {header} s",
                f"The host asks to wait longer than BVP_DATA__BINANCE_MAX_WAIT_S="
                f"{self.max_wait_s:g}; try again after that time.",
            )  # fmt: skip
        return max(wait, 0.0)


def _msg(response: httpx.Response) -> str:
    """Binance error bodies look like {"code": -1121, "msg": "Invalid symbol."}."""
    try:
        body = response.json()
        return f"{body['msg']} (code {body['code']})"
    except (ValueError, KeyError, TypeError):
        return response.text[:120] or response.reason_phrase


def _check_klines(body: Any, url: str) -> None:
    if not isinstance(body, list):
        raise SourcePayloadError(
            SOURCE, url, "a JSON array of klines", json.dumps(body)[:80]
        )
    for row in body:
        ok = (
            isinstance(row, list)
            and len(row) >= 7
            and isinstance(row[0], int)
            and all(isinstance(v, str | int | float) for v in row[1:6])
        )
        if not ok:
            raise SourcePayloadError(
                SOURCE, url,
                "kline rows [open_time_ms, open, high, low, close, volume, "
                "close_time_ms, ...]",
                json.dumps(row)[:80],
            )  # fmt: skip
