"""Read candle files of every supported layout into one canonical frame.

Canonical frame: columns ``OPEN_TIME`` (naive UTC ``datetime64[ns]``, the candle's open)
and ``OPEN, HIGH, LOW, CLOSE, VOLUME`` (float64), rows in file order. Reading never
sorts, de-duplicates or repairs: that is validation's job, so problems are reported
rather than hidden.

Supported layouts:
    * Kaggle export of Binance klines: ``Open time,Open,High,Low,Close,Volume,Close
      time,...`` with ``2018-01-01 00:00:00.000000 UTC`` or ``2018-01-01 00:00:00``.
    * Binance API rows: the same columns (or no header, 12 columns) with epoch
      milliseconds, or a JSON array of kline arrays.
    * Yahoo-style Kaggle BTC datasets: ``Date,Open,High,Low,Close,Volume`` in any
      order, optional ``Adj Close`` (ignored: BTC has no corporate actions).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml._typing import Interval
from ml.errors import CandleFileError, DataValidationError

__all__ = [
    "CLOSE",
    "HIGH",
    "LOW",
    "OPEN",
    "OPEN_TIME",
    "PRICE_COLUMNS",
    "VOLUME",
    "CANDLE_COLUMNS",
    "CANDLE_HEADER",
    "KLINE_HEADER",
    "DataVersion",
    "bundled_path",
    "candles_from_klines",
    "data_version",
    "parse_candles",
    "parse_day",
    "read_candles",
]

OPEN_TIME = "open_time"
OPEN = "open"
HIGH = "high"
LOW = "low"
CLOSE = "close"
VOLUME = "volume"
PRICE_COLUMNS = (OPEN, HIGH, LOW, CLOSE)
CANDLE_COLUMNS = (OPEN_TIME, *PRICE_COLUMNS, VOLUME)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_GZIP_MAGIC = b"\x1f\x8b"


def parse_day(value: object, field: str) -> pd.Timestamp:
    """A calendar day written YYYY-MM-DD (no time, no time zone, no other order).

    Raises:
        DataValidationError: Anything else, naming ``field`` and the value.
    """
    text = value if isinstance(value, str) else None
    if text is None or not _DAY.fullmatch(text):
        raise DataValidationError(
            field, value, "expected a date YYYY-MM-DD, e.g. 2025-05-27"
        )
    try:
        return pd.Timestamp(text)
    except ValueError as exc:
        raise DataValidationError(
            field, value, f"not a calendar date ({exc})"
        ) from None


BUNDLED_FILES: dict[str, str] = {"1d": "btcusdt_1d.csv.gz", "4h": "btcusdt_4h.csv.gz"}
KLINE_HEADER = (
    "Open time", "Open", "High", "Low", "Close", "Volume", "Close time",
    "Quote asset volume", "Number of trades", "Taker buy base asset volume",
    "Taker buy quote asset volume", "Ignore",
)  # fmt: skip
"""Column names of a Binance kline (the Kaggle export's header)."""
CANDLE_HEADER = KLINE_HEADER[:6]
"""The ones a candle needs, in the order of :data:`CANDLE_COLUMNS`."""
_TIME_ALIASES = ("open time", "open_time", "opentime", "date", "datetime", "timestamp")
_NAME_MAP = {OPEN: "open", HIGH: "high", LOW: "low", CLOSE: "close", VOLUME: "volume"}


def bundled_path(interval: Interval) -> Path:
    """Path of the bundled real Binance BTCUSDT candle file.

    Args:
        interval: ``"1d"`` or ``"4h"``.

    Returns:
        Path to a gzipped CSV in the Kaggle export layout.
    """
    if interval not in BUNDLED_FILES:
        raise DataValidationError("interval", interval, "expected one of 1d, 4h")
    ref = resources.files("ml") / "bundled" / BUNDLED_FILES[interval]
    return Path(str(ref))


def read_candles(path: str | Path) -> pd.DataFrame:
    """Read a candle file of any supported layout (optionally gzipped).

    Args:
        path: CSV (``.csv`` or ``.csv.gz``) or JSON kline array (``.json``).

    Returns:
        The canonical candle frame.

    Raises:
        CandleFileError: The file is unreadable, empty, not valid gzip, binary or
            not UTF-8 text, or not CSV/JSON; or its layout or a value is wrong (the
            message starts with the file, then names the column and the value).
    """
    p = Path(path)
    text = _read_text(p)
    try:
        if text.lstrip().startswith("["):
            try:
                rows = json.loads(text)
            except json.JSONDecodeError as exc:
                raise CandleFileError(
                    p, f"not a JSON array of klines ({exc.msg} at line {exc.lineno})"
                ) from exc
            return candles_from_klines(rows)
        return parse_candles(text)
    except CandleFileError:
        raise
    except DataValidationError as exc:
        raise CandleFileError(p, str(exc), cause=exc) from exc
    except ValueError as exc:  # pandas' tokenizer: ragged rows, stray quotes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unparsable"
        raise CandleFileError(p, f"not a CSV candle file ({first})") from exc


def _read_text(p: Path) -> str:
    """The file's text, gunzipped if it starts with the gzip magic bytes."""
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CandleFileError(p, f"cannot read ({exc.strerror or exc})") from exc
    gzipped = raw[:2] == _GZIP_MAGIC
    if gzipped:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise CandleFileError(p, f"not a valid gzip file ({exc})") from exc
    try:
        if b"\x00" in raw:  # valid UTF-8, but no text file holds NUL bytes
            raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"), 1, "NUL byte")
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        note = "; named .gz but has no gzip header" if p.suffix == ".gz" else ""
        note = "; after gunzip" if gzipped else note
        raise CandleFileError(
            p,
            "not a CSV/JSON candle file (binary or not UTF-8 text: byte "
            f"{raw[exc.start]:#04x} at offset {exc.start}{note})",
        ) from exc
    if not text.strip():
        raise CandleFileError(p, "empty file, expected a CSV or JSON candle file")
    return text


def parse_candles(text: str) -> pd.DataFrame:
    """Parse CSV text of any supported layout into the canonical frame."""
    first = text.lstrip().split("\n", 1)[0]
    header_less = first.lstrip('"')[:1].isdigit() and first.count(",") >= 5
    frame = pd.read_csv(
        io.StringIO(text),
        header=None if header_less else "infer",
        names=list(KLINE_HEADER)[: first.count(",") + 1] if header_less else None,
        dtype=str,
        keep_default_na=False,
    )
    cols = {c.strip().lower(): c for c in frame.columns}
    time_col = next((cols[a] for a in _TIME_ALIASES if a in cols), None)
    if time_col is None:
        raise DataValidationError(
            "columns", list(frame.columns), "expected a time column: Open time or Date"
        )
    out = pd.DataFrame({OPEN_TIME: _parse_times(frame[time_col])})
    for name in (OPEN, HIGH, LOW, CLOSE, VOLUME):
        if name not in cols:
            raise DataValidationError(
                "columns",
                list(frame.columns),
                f"expected a {name.capitalize()} column",
            )
        out[name] = _parse_numbers(frame[cols[name]], name, out[OPEN_TIME])
    return out


def candles_from_klines(rows: list[list[Any]]) -> pd.DataFrame:
    """Convert Binance ``/api/v3/klines`` rows (epoch ms) to the canonical frame."""
    if not isinstance(rows, list) or any(
        not isinstance(r, list) or len(r) < 6 for r in rows
    ):
        bad = next((r for r in rows if not isinstance(r, list) or len(r) < 6), rows)
        raise DataValidationError(
            "kline", bad, "expected an array of [open_time_ms, open, high, low, ...]"
        )
    frame = pd.DataFrame(
        {
            "Open time": [str(r[0]) for r in rows],
            **{k: [str(r[i]) for r in rows] for i, k in enumerate(_NAME_MAP, 1)},
        }
    )
    return parse_candles(frame.to_csv(index=False))


def _parse_times(values: pd.Series) -> pd.Series:
    """Parse each row as epoch digits (unit from the digit count) or a UTC time.

    Notes:
        A digits-only value (a number or text such as ``"1716768000000"``, optionally
        ``.0``) is epoch time: 10-12 digits are seconds, 13-15 milliseconds, 16
        microseconds. Anything else is a calendar time, ``UTC``/``Z``/``+00:00``
        suffixes allowed. Rows may mix the two.
    """
    s = values.astype(str).str.strip().str.replace(r"^(\d+)\.0*$", r"\1", regex=True)
    digits = s.str.fullmatch(r"\d{10,16}")
    parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    n = s.str.len()
    for unit, rows in (
        ("s", digits & (n <= 12)),
        ("ms", digits & n.between(13, 15)),
        ("us", digits & (n == 16)),
    ):
        if rows.any():
            stamps = pd.to_datetime(  # type: ignore[call-overload]
                s[rows].astype("int64"), unit=unit, errors="coerce"
            )
            parsed[rows] = stamps.astype("datetime64[ns]")
    text = ~digits
    if text.any():
        cleaned = (
            s[text]
            .str.replace(r"\s*UTC$", "", regex=True)
            .str.replace(r"Z$|\+00:00$", "", regex=True)
        )
        parsed[text] = pd.to_datetime(cleaned, format="mixed", errors="coerce")
    bad = parsed.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            "open_time",
            values.iloc[i],
            "expected a timestamp like 2018-01-01 00:00:00[.000000 UTC] or epoch "
            "time as digits (10 for seconds, 13 for milliseconds, 16 for "
            "microseconds)",
            at=f"row {i + 1}",
            count=int(bad.sum()),
            row=i,
        )
    return parsed


def _parse_numbers(values: pd.Series, name: str, times: pd.Series) -> pd.Series:
    stripped = values.astype(str).str.strip()
    missing = stripped.isin(["", "nan", "NaN", "null", "None"])
    nums = pd.to_numeric(stripped.where(~missing), errors="coerce")
    bad = nums.isna() & ~missing
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            name, values.iloc[i], "expected a number", at=_stamp(times.iloc[i]),
            count=int(bad.sum()), row=i,
        )  # fmt: skip
    return nums.astype("float64")


def _stamp(t: Any) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class DataVersion:
    """Identity of a candle frame: content hash, row count and time range."""

    sha256: str
    rows: int
    first: str
    last: str

    def as_dict(self) -> dict[str, str | int]:
        """Flat dict for tags and JSON."""
        return {
            "sha256": self.sha256,
            "rows": self.rows,
            "first": self.first,
            "last": self.last,
        }


def data_version(candles: pd.DataFrame) -> DataVersion:
    """Hash the canonical columns so equal data gives equal versions."""
    frame = candles.loc[:, list(CANDLE_COLUMNS)].reset_index(drop=True)
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    ).hexdigest()
    times = candles[OPEN_TIME]
    return DataVersion(
        sha256=digest,
        rows=len(candles),
        first=str(times.min().date()) if len(candles) else "",
        last=str(times.max().date()) if len(candles) else "",
    )
