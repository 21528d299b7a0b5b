"""Pure rules of incremental ingestion: closed candles, merge, de-duplication.

The network and file adapters (``pipelines/ingest``) call these functions; nothing
here touches the network, the disk or the clock (``now`` is always an argument).

Conflict policy: a closed candle never changes at the source, so when an incoming
candle has the same open time as a stored one, their prices and volume must agree
(within ``rtol``, which only absorbs float text round trips). Agreeing duplicates are
dropped; the first disagreement raises :class:`CandleConflictError` and nothing is
merged. Incoming candles older than the stored range fill gaps like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml._typing import Interval
from ml.data import CANDLE_COLUMNS, OPEN_TIME, PRICE_COLUMNS, VOLUME, _stamp
from ml.errors import CandleConflictError, DataValidationError
from ml.validation import INTERVAL_DELTAS

__all__ = [
    "CONFLICT_RTOL",
    "MergeResult",
    "closed_candles",
    "count_newer",
    "empty_candles",
    "merge_candles",
]

CONFLICT_RTOL = 1e-9
"""Relative tolerance when comparing a stored and an incoming value of one candle."""


@dataclass(frozen=True)
class MergeResult:
    """Outcome of :func:`merge_candles`."""

    candles: pd.DataFrame
    """Stored and new candles, sorted by open time, unique."""
    added: int
    """Candles that were not stored before."""
    duplicates: int
    """Incoming candles already stored with equal values (dropped)."""


def closed_candles(
    candles: pd.DataFrame, interval: Interval, now: pd.Timestamp
) -> pd.DataFrame:
    """Keep only candles that have closed by ``now``.

    Args:
        candles: Canonical candle frame.
        interval: Candle length.
        now: Current time as a naive UTC timestamp.

    Returns:
        The rows whose close (open time + interval) is at or before ``now``.

    Notes:
        Binance reports ``close_time = open_time + interval - 1 ms``; a candle is
        final once that millisecond has passed, i.e. ``open_time + interval <= now``.
    """
    step = _step(interval)
    keep = (candles[OPEN_TIME] + step) <= pd.Timestamp(now)
    return candles.loc[keep].reset_index(drop=True)


def empty_candles() -> pd.DataFrame:
    """A canonical candle frame with no rows (correct dtypes)."""
    frame = pd.DataFrame({c: pd.Series([], dtype="float64") for c in CANDLE_COLUMNS})
    frame[OPEN_TIME] = frame[OPEN_TIME].astype("datetime64[ns]")
    return frame


def count_newer(stored: pd.DataFrame, incoming: pd.DataFrame) -> int:
    """Number of incoming candles that open after the last stored candle."""
    if stored.empty:
        return len(incoming)
    return int((incoming[OPEN_TIME] > stored[OPEN_TIME].max()).sum())


def merge_candles(
    stored: pd.DataFrame, incoming: pd.DataFrame, rtol: float = CONFLICT_RTOL
) -> MergeResult:
    """Merge incoming candles into stored ones, de-duplicating on open time.

    Args:
        stored: Canonical frame already in the store (unique open times).
        incoming: Canonical frame from a source (may overlap ``stored`` and may
            contain exact duplicates of itself).
        rtol: Relative tolerance for "the same value".

    Returns:
        The merged frame (sorted, unique) with counts of added and dropped rows.

    Raises:
        CandleConflictError: An incoming candle disagrees with a stored one (or with
            another incoming candle of the same open time).
    """
    cols = list(CANDLE_COLUMNS)
    incoming = incoming.loc[:, cols].sort_values(OPEN_TIME, kind="stable")
    _check_agree(incoming.iloc[:0], incoming, rtol, self_check=True)
    incoming = incoming.drop_duplicates(OPEN_TIME, keep="first")
    _check_agree(stored.loc[:, cols], incoming, rtol, self_check=False)
    is_new = ~incoming[OPEN_TIME].isin(stored[OPEN_TIME])
    merged = (
        pd.concat([stored.loc[:, cols], incoming.loc[is_new]], ignore_index=True)
        .sort_values(OPEN_TIME, kind="stable")
        .reset_index(drop=True)
    )
    return MergeResult(merged, int(is_new.sum()), int((~is_new).sum()))


def _check_agree(
    stored: pd.DataFrame, incoming: pd.DataFrame, rtol: float, self_check: bool
) -> None:
    if self_check:
        dup = incoming[OPEN_TIME].duplicated(keep=False)
        first = incoming.loc[dup].drop_duplicates(OPEN_TIME, keep="first")
        left, right = first, incoming.loc[dup]
    else:
        left, right = stored, incoming
    pairs = left.merge(right, on=OPEN_TIME, suffixes=("_old", "_new"))
    for col in (*PRICE_COLUMNS, VOLUME):
        old = pairs[f"{col}_old"].to_numpy(dtype="float64")
        new = pairs[f"{col}_new"].to_numpy(dtype="float64")
        bad = ~np.isclose(old, new, rtol=rtol, atol=0.0, equal_nan=True)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CandleConflictError(
                col,
                _stamp(pairs[OPEN_TIME].iloc[i]),
                float(old[i]),
                float(new[i]),
                count=int(bad.sum()),
            )


def _step(interval: str) -> pd.Timedelta:
    if interval not in INTERVAL_DELTAS:
        raise DataValidationError("interval", interval, "expected one of 1d, 4h")
    return INTERVAL_DELTAS[interval]
