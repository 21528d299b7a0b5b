"""Update the local store from a source: the function behind ``bvp data update``.

Binance updates are incremental: fetching starts at the last stored candle (one
candle of overlap, so a symbol or source mismatch shows up as a conflict instead of
passing silently) and stops at the last closed candle. Kaggle updates download the
whole dataset and merge it; the overlap is checked the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from ml._typing import GapPolicy, Interval
from ml.data import OPEN_TIME
from ml.ingest import count_newer
from ml.settings import Settings
from pipelines.ingest.binance import INTERVAL_MS, BinanceClient
from pipelines.ingest.kaggle import download_kaggle_candles
from pipelines.ingest.store import CandleStore, StoreUpdate, has_new_data

__all__ = [
    "SOURCES",
    "IngestResult",
    "kaggle_has_new_data",
    "update_from_binance",
    "update_from_kaggle",
]

SOURCES = ("binance", "kaggle")
Progress = Callable[[int, int], None]
"""Called with (rows just fetched, expected total rows)."""


@dataclass(frozen=True)
class IngestResult:
    """One source, one interval: what was fetched and what the store did."""

    source: str
    fetched: int
    """Closed candles the source returned."""
    newer: int
    """Of those, candles newer than the store's last candle before the update."""
    store: StoreUpdate


def _utc_now() -> pd.Timestamp:
    return pd.Timestamp(time.time_ns(), unit="ns")


def update_from_binance(
    settings: Settings,
    interval: Interval,
    *,
    store: CandleStore | None = None,
    client: BinanceClient | None = None,
    progress: Progress | None = None,
    gap_policy: GapPolicy | None = None,
    gap_hint: str | None = None,
) -> IngestResult:
    """Fetch closed Binance candles after the store's last one and merge them.

    Args:
        settings: Process settings (``data`` group).
        interval: ``1d`` or ``4h``.
        store: Store to update (default: from settings).
        client: Klines client (default: from settings); its clock defines "now".
        progress: Progress callback, see :data:`Progress`.
        gap_policy: Override of the store's gap policy.
        gap_hint: How the user accepts a gap (see :meth:`CandleStore.update`).

    Returns:
        Fetch counts and the store update (rows added, report, version).
    """
    store = store or CandleStore.from_settings(settings)
    own = client is None
    client = client or BinanceClient.from_settings(settings.data)
    try:
        stored = store.load(interval)
        if len(stored):
            start_ms = int(stored[OPEN_TIME].max().value // 1_000_000)
        else:
            start_ms = int(pd.Timestamp(settings.data.binance_start).value // 1_000_000)
        # Rows the source will send: every candle opening in [start, now], including
        # the still-open one (dropped after fetching).
        expected = max(0, (client.clock() - start_ms) // INTERVAL_MS[interval] + 1)

        def on_page(n: int) -> None:
            if progress is not None:
                progress(n, expected)

        fetched = client.fetch_candles(interval, start_ms, progress=on_page)
    finally:
        if own:
            client.close()
    newer = count_newer(stored, fetched)
    return IngestResult(
        "binance",
        len(fetched),
        newer,
        store.update(interval, fetched, gap_policy, gap_hint),
    )


def update_from_kaggle(
    settings: Settings,
    interval: Interval,
    *,
    store: CandleStore | None = None,
    now: pd.Timestamp | None = None,
    gap_policy: GapPolicy | None = None,
    gap_hint: str | None = None,
) -> IngestResult:
    """Download the configured Kaggle dataset and merge the interval's candles."""
    store = store or CandleStore.from_settings(settings)
    frame = download_kaggle_candles(settings.data, interval, now or _utc_now())
    newer = count_newer(store.load(interval), frame)
    return IngestResult(
        "kaggle", len(frame), newer, store.update(interval, frame, gap_policy, gap_hint)
    )


def kaggle_has_new_data(
    settings: Settings,
    interval: Interval,
    *,
    store: CandleStore | None = None,
    now: pd.Timestamp | None = None,
) -> bool:
    """Monitoring check: does the Kaggle dataset have candles the store lacks?"""
    store = store or CandleStore.from_settings(settings)
    frame = download_kaggle_candles(settings.data, interval, now or _utc_now())
    return has_new_data(store, interval, frame)
