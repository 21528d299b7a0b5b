"""Fixtures for ingestion tests: fake servers, a store in tmp_path, a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipelines.ingest.binance import BinanceClient
from pipelines.ingest.store import CandleStore
from tests.ingest.fake_servers import DAY_MS, FakeBinance, ms, synthetic_klines

START = "2018-01-01"
N_DAYS = 2500


@pytest.fixture
def klines_2500() -> list[list]:
    """2,500 closed daily candles plus the still-open one after them."""
    return synthetic_klines(ms(START), N_DAYS + 1, DAY_MS)


@pytest.fixture
def now_ms(klines_2500) -> int:
    """A clock inside the last (open) candle: 6 hours after it opened."""
    return klines_2500[-1][0] + 6 * 3_600_000


@pytest.fixture
def binance(klines_2500) -> Iterator[FakeBinance]:
    with FakeBinance({"1d": klines_2500}) as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(binance, now_ms, sleeps) -> Iterator[BinanceClient]:
    with BinanceClient(
        binance.url,
        "BTCUSDT",
        timeout_s=5,
        max_retries=3,
        backoff_s=0.01,
        max_wait_s=5,
        sleep=sleeps.append,
        clock=lambda: now_ms,
    ) as c:
        yield c


@pytest.fixture
def store(tmp_path) -> CandleStore:
    """An empty, unseeded store (tests that want the bundled seed build their own)."""
    return CandleStore(tmp_path / "data", seed=False)
