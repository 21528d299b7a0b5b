"""Local candle store: one gzipped CSV per interval, updated atomically.

Layout: ``<store_dir>/<symbol>_<interval>.csv.gz`` (e.g. ``btcusdt_1d.csv.gz``) with
the header ``Open time,Open,High,Low,Close,Volume`` and times like
``2018-01-01 00:00:00``: the Kaggle export layout, so :func:`ml.data.read_candles`
(and ``bvp data check``) read it. A missing BTCUSDT file is seeded from the bundled
candles on first use.

An update merges incoming candles (:func:`ml.ingest.merge_candles`: de-duplicated on
open time, conflicting values refused), validates the whole result, and only then
replaces the file: temp file in the same directory, flush, fsync, ``os.replace``,
fsync of the directory. A crash at any point leaves the previous file intact. An
update that adds nothing does not touch the file, so re-runs are idempotent. One
``flock`` per file serialises concurrent updates.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import logging
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ml._typing import GapPolicy, Interval
from ml.data import (
    CANDLE_COLUMNS,
    CANDLE_HEADER,
    OPEN_TIME,
    DataVersion,
    bundled_path,
    data_version,
    read_candles,
)
from ml.ingest import count_newer, empty_candles, merge_candles
from ml.settings import Settings
from ml.validation import ValidationReport, find_gaps, validate_candles

__all__ = [
    "CSV_HEADER",
    "CandleStore",
    "StoreUpdate",
    "atomic_write_bytes",
    "file_mode",
    "encode_candles",
    "has_new_data",
    "process_umask",
]

log = logging.getLogger(__name__)

CSV_HEADER = CANDLE_HEADER
SEEDED_SYMBOL = "BTCUSDT"
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class StoreUpdate:
    """What one update did."""

    interval: str
    path: Path
    added: int
    """Candles new to the store."""
    duplicates: int
    """Incoming candles already stored (dropped)."""
    report: ValidationReport
    """Validation of the whole store after the update (rows, range, gaps)."""
    version: DataVersion
    """Data version of the store after the update."""
    new_gaps: list[tuple[str, str, int]] = field(default_factory=list)
    """Gaps that this update introduced (subset of ``report.gaps``)."""
    written: bool = False
    """Whether the file was rewritten (False when nothing was added)."""


class CandleStore:
    """Candle files of one symbol under one directory.

    Args:
        root: Store directory (created on first write).
        symbol: Trading pair; names the files.
        gap_policies: Per interval, ``raise`` refuses an update that leaves gaps,
            ``report`` keeps it and lists them.
        seed: Seed a missing BTCUSDT file from the bundled candles.
    """

    def __init__(
        self,
        root: Path,
        symbol: str = SEEDED_SYMBOL,
        gap_policies: Mapping[str, GapPolicy] | None = None,
        seed: bool = True,
    ) -> None:
        self.root = Path(root)
        self.symbol = symbol
        self.gap_policies: dict[str, GapPolicy] = {"1d": "raise", "4h": "report"}
        self.gap_policies.update(gap_policies or {})
        self.seed = seed

    @classmethod
    def from_settings(cls, settings: Settings) -> CandleStore:
        """Store at ``data.store_dir`` (default ``<home>/data``) with its policies."""
        data = settings.data
        return cls(
            data.store_dir or settings.home / "data",
            data.binance_symbol,
            {"1d": data.gap_policy_1d, "4h": data.gap_policy_4h},
        )

    def path(self, interval: Interval) -> Path:
        """File holding the candles of ``interval``."""
        return self.root / f"{self.symbol.lower()}_{interval}.csv.gz"

    def load(self, interval: Interval) -> pd.DataFrame:
        """Stored candles (seeding from the bundled file first if needed)."""
        path = self.path(interval)
        if not path.exists() and self.seed and self.symbol == SEEDED_SYMBOL:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, [bundled_path(interval).read_bytes()])
            log.info("seeded %s from the bundled candles", path)
        if not path.exists():
            return empty_candles()
        return read_candles(path)

    def version(self, interval: Interval) -> DataVersion:
        """Data version (hash, rows, first and last day) of the stored candles."""
        return data_version(self.load(interval))

    def update(
        self,
        interval: Interval,
        incoming: pd.DataFrame,
        gap_policy: GapPolicy | None = None,
        gap_hint: str | None = None,
    ) -> StoreUpdate:
        """Merge ``incoming`` into the store, validate, and write atomically.

        Args:
            interval: Interval of the candles.
            incoming: Canonical candles from a source (may overlap the store).
            gap_policy: Override of the store's policy for this interval.
            gap_hint: How the caller's user accepts a gap (a command's flag); default
                the setting (:func:`ml.validation.gap_setting_hint`).

        Returns:
            What was added and the store's report and version afterwards.

        Raises:
            CandleConflictError: Incoming values disagree with stored ones.
            DataValidationError: The merged candles break a contract (including a
                gap when the policy is ``raise``). The file is left unchanged.
        """
        policy = gap_policy or self.gap_policies.get(interval, "report")
        path = self.path(interval)
        with self._lock(path):
            for stale in path.parent.glob(f".{path.name}.*.tmp"):
                stale.unlink(missing_ok=True)  # left by a killed writer
            stored = self.load(interval)
            merged = merge_candles(stored, incoming)
            report = validate_candles(merged.candles, interval, policy, gap_hint)
            old_gaps = set(find_gaps(stored, interval)) if len(stored) else set()
            new_gaps = [g for g in report.gaps if g not in old_gaps]
            written = merged.added > 0
            if written:
                atomic_write_bytes(path, [encode_candles(merged.candles)])
        return StoreUpdate(
            interval, path, merged.added, merged.duplicates, report,
            data_version(merged.candles), new_gaps, written,
        )  # fmt: skip

    @contextlib.contextmanager
    def _lock(self, path: Path) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        lock = path.with_name(f".{path.name}.lock")
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def has_new_data(store: CandleStore, interval: Interval, source: pd.DataFrame) -> bool:
    """True if ``source`` has candles newer than the store's last candle.

    The monitoring pipeline's new-data check: cheap, reads the store only.
    """
    return count_newer(store.load(interval), source) > 0


def encode_candles(candles: pd.DataFrame) -> bytes:
    """Gzipped CSV in the store layout; equal candles give equal bytes."""
    frame = candles.loc[:, list(CANDLE_COLUMNS)].copy()
    frame[OPEN_TIME] = frame[OPEN_TIME].dt.strftime(_TIME_FORMAT)
    frame.columns = list(CSV_HEADER)
    text = frame.to_csv(index=False, lineterminator="\n")
    return gzip.compress(text.encode("utf-8"), mtime=0)


def file_mode(path: Path) -> int:
    """Permission bits for a file written to ``path`` by a temp file and a rename.

    Returns:
        The mode of the file at ``path`` if there is one, else 0666 minus the umask
        (what ``open(path, "w")`` would give).
    """
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~process_umask()


def process_umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, brief)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` so readers see the old file or the new one.

    Writes a temp file in the same directory, flushes and fsyncs it, renames it
    over ``path`` with ``os.replace`` and fsyncs the directory. On any exception
    the temp file is removed and ``path`` is untouched; after a hard kill only a
    stray ``.<name>.*.tmp`` may remain (ignored by readers, removed by the next
    :meth:`CandleStore.update`).

    The file keeps the permissions of the file it replaces; a new file gets the
    usual ones (0666 minus the umask), not ``mkstemp``'s private 0600.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode(path))
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
