"""Data contracts for candle frames: one function per rule.

Each check returns the frame unchanged or raises :class:`DataValidationError` naming
the column, the first offending candle's time, the value and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml._typing import GapPolicy, Interval
from ml.data import (
    CANDLE_COLUMNS,
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    OPEN_TIME,
    PRICE_COLUMNS,
    VOLUME,
    _stamp,
)
from ml.errors import DataValidationError

__all__ = [
    "INTERVAL_DELTAS",
    "ValidationReport",
    "check_gaps",
    "check_ohlc",
    "check_prices",
    "check_schema",
    "check_spacing",
    "check_timestamps",
    "check_volume",
    "find_gaps",
    "gap_setting_hint",
    "validate_candles",
]

INTERVAL_DELTAS: dict[str, pd.Timedelta] = {
    "1d": pd.Timedelta(days=1),
    "4h": pd.Timedelta(hours=4),
}


@dataclass
class ValidationReport:
    """What validation saw: size, range and the gaps it let through."""

    interval: str
    rows: int
    first: str
    last: str
    gaps: list[tuple[str, str, int]] = field(default_factory=list)
    """(last candle before, first candle after, missing candles) per gap."""

    @property
    def missing(self) -> int:
        """Total number of missing candles."""
        return sum(g[2] for g in self.gaps)

    def as_text(self) -> str:
        """Human-readable report."""
        lines = [
            f"interval: {self.interval}",
            f"rows:     {self.rows}",
            f"range:    {self.first} .. {self.last}",
            f"gaps:     {len(self.gaps)} ({self.missing} missing candle"
            f"{'' if self.missing == 1 else 's'})",
        ]
        lines += [
            f"  after {a} next is {b} ({n} missing)" for a, b, n in self.gaps[:20]
        ]
        if len(self.gaps) > 20:
            lines.append(f"  ... {len(self.gaps) - 20} more")
        return "\n".join(lines)


def check_schema(candles: pd.DataFrame) -> pd.DataFrame:
    """Require the canonical columns with numeric prices and datetime open times."""
    missing = [c for c in CANDLE_COLUMNS if c not in candles.columns]
    if missing:
        raise DataValidationError(
            "columns", sorted(candles.columns), f"missing required column(s) {missing}"
        )
    if not pd.api.types.is_datetime64_any_dtype(candles[OPEN_TIME]):
        raise DataValidationError(
            OPEN_TIME, str(candles[OPEN_TIME].dtype), "expected datetime64"
        )
    for c in (*PRICE_COLUMNS, VOLUME):
        if not pd.api.types.is_numeric_dtype(candles[c]):
            raise DataValidationError(c, str(candles[c].dtype), "expected numbers")
    return candles


def check_timestamps(candles: pd.DataFrame) -> pd.DataFrame:
    """Require unique, strictly increasing open times."""
    t = candles[OPEN_TIME]
    dup = t.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataValidationError(
            OPEN_TIME, _stamp(t.iloc[i]), "expected unique timestamps (duplicate)",
            at=f"row {i + 1}", count=int(dup.sum()), row=i,
        )  # fmt: skip
    back = t.diff() <= pd.Timedelta(0)
    if back.any():
        i = int(np.flatnonzero(back.to_numpy())[0])
        raise DataValidationError(
            OPEN_TIME,
            _stamp(t.iloc[i]),
            f"expected increasing timestamps (previous row is {_stamp(t.iloc[i - 1])})",
            at=f"row {i + 1}",
            count=int(back.sum()),
            row=i,
        )
    return candles


def check_prices(candles: pd.DataFrame) -> pd.DataFrame:
    """Require every price to be a finite number > 0."""
    for c in PRICE_COLUMNS:
        v = candles[c].to_numpy(dtype="float64")
        bad = ~np.isfinite(v) | (v <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                c, float(v[i]), "expected a finite price > 0",
                at=_stamp(candles[OPEN_TIME].iloc[i]), count=int(bad.sum()), row=i,
            )  # fmt: skip
    return candles


def check_ohlc(candles: pd.DataFrame) -> pd.DataFrame:
    """Require Low <= min(Open, Close) and High >= max(Open, Close)."""
    o, c = candles[OPEN].to_numpy(), candles[CLOSE].to_numpy()
    rules = (
        (HIGH, candles[HIGH].to_numpy() < np.maximum(o, c), "expected >= max(open, close)"),
        (LOW, candles[LOW].to_numpy() > np.minimum(o, c), "expected <= min(open, close)"),
    )  # fmt: skip
    for col, bad, rule in rules:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                col,
                float(candles[col].iloc[i]),
                f"{rule} = ({o[i]}, {c[i]})",
                at=_stamp(candles[OPEN_TIME].iloc[i]),
                count=int(bad.sum()),
                row=i,
            )
    return candles


def check_volume(candles: pd.DataFrame) -> pd.DataFrame:
    """Require finite volume >= 0."""
    v = candles[VOLUME].to_numpy(dtype="float64")
    bad = ~np.isfinite(v) | (v < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            VOLUME, float(v[i]), "expected a finite volume >= 0",
            at=_stamp(candles[OPEN_TIME].iloc[i]), count=int(bad.sum()), row=i,
        )  # fmt: skip
    return candles


def _span(d: pd.Timedelta) -> str:
    """'1 day', '4 hours', '2 days 12 hours', '30 minutes'."""
    parts, rest = [], int(d.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n > 1 else ''}")
    return " ".join(parts) or "0 seconds"


def check_spacing(candles: pd.DataFrame, interval: Interval) -> pd.DataFrame:
    """Require ``interval`` candles: typical spacing equal to it, each on the UTC grid.

    A 4-hour file checked as daily, a daily one as 4-hour, or a candle off the grid
    (12:00 among midnight candles) would otherwise pass as data with gaps or none.
    The grid is Binance's (daily at 00:00 UTC, 4-hour at 00:00, 04:00, ...), so every
    step is a whole number of intervals: daily candles all at 12:00 are evenly spaced,
    but their days are not the calendar days the 4-hour candles, the as-of day and the
    labels are counted in.
    """
    step = INTERVAL_DELTAS[interval]
    t = candles[OPEN_TIME]
    diffs = t.diff().iloc[1:]
    typical = pd.Timedelta(diffs.median()) if len(diffs) else step
    if len(diffs) >= 2 and typical != step:
        raise DataValidationError(
            OPEN_TIME, f"candles {_span(typical)} apart (median)",
            f"expected {interval} candles, {_span(step)} apart: is this the file for "
            "another interval?",
        )  # fmt: skip
    off_grid = (t != t.dt.floor(step)).to_numpy()
    if off_grid.any():
        i = int(np.flatnonzero(off_grid)[0])
        grid = "00:00 UTC" if interval == "1d" else "00:00, 04:00, ... 20:00 UTC"
        raise DataValidationError(
            OPEN_TIME, _stamp(t.iloc[i]),
            f"expected {interval} candles to open at {grid} (Binance's grid); "
            "are the times in another time zone?",
            at=f"row {i + 1}", count=int(off_grid.sum()), row=i,
        )  # fmt: skip
    return candles


def find_gaps(candles: pd.DataFrame, interval: Interval) -> list[tuple[str, str, int]]:
    """List missing candles as (last before, first after, count missing)."""
    step = INTERVAL_DELTAS[interval]
    t = candles[OPEN_TIME]
    jumps = t.diff()
    idx = np.flatnonzero((jumps > step).to_numpy())
    return [
        (_stamp(t.iloc[i - 1]), _stamp(t.iloc[i]), int(jumps.iloc[i] / step) - 1)
        for i in idx
    ]


def gap_setting_hint(interval: str) -> str:
    """How a user accepts gaps where the policy comes from settings."""
    return f"BVP_DATA__GAP_POLICY_{interval.upper()}=report accepts gaps"


def check_gaps(
    candles: pd.DataFrame,
    interval: Interval,
    policy: GapPolicy,
    hint: str | None = None,
) -> list[tuple[str, str, int]]:
    """Find gaps; raise on the first one if the policy is ``raise``.

    ``hint`` ends the message: what the caller's user can do about a gap (default
    :func:`gap_setting_hint`; a request has no policy field, a command has a flag).
    """
    gaps = find_gaps(candles, interval)
    if gaps and policy == "raise":
        before, after, n = gaps[0]
        raise DataValidationError(
            OPEN_TIME,
            after,
            f"expected the next {interval} candle after {before} "
            f"({n} missing; {hint or gap_setting_hint(interval)})",
            at=before,
            count=len(gaps),
        )
    return gaps


def validate_candles(
    candles: pd.DataFrame,
    interval: Interval,
    gap_policy: GapPolicy = "raise",
    gap_hint: str | None = None,
) -> ValidationReport:
    """Run every contract on a canonical candle frame.

    Args:
        candles: Canonical frame from :func:`ml.data.read_candles`.
        interval: Expected spacing of the candles.
        gap_policy: ``raise`` fails on missing candles; ``report`` lists them.
        gap_hint: How to accept a gap, for the message (see :func:`check_gaps`).

    Returns:
        The report (rows, range, gaps).

    Raises:
        DataValidationError: The first broken rule.
    """
    if interval not in INTERVAL_DELTAS:
        raise DataValidationError("interval", interval, "expected one of 1d, 4h")
    if gap_policy not in ("raise", "report"):
        raise DataValidationError("gap_policy", gap_policy, "expected raise or report")
    if candles.empty:
        raise DataValidationError("rows", 0, "expected at least one candle")
    for check in (
        check_schema,
        check_timestamps,
        check_prices,
        check_ohlc,
        check_volume,
    ):
        check(candles)
    check_spacing(candles, interval)
    gaps = check_gaps(candles, interval, gap_policy, gap_hint)
    t = candles[OPEN_TIME]
    return ValidationReport(
        interval, len(candles), _stamp(t.iloc[0]), _stamp(t.iloc[-1]), gaps
    )
