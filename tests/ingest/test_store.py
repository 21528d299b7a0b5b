"""Local candle store: seeding, incremental merge, conflicts, atomic writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from ml.data import (
    CLOSE,
    OPEN_TIME,
    bundled_path,
    candles_from_klines,
    data_version,
    read_candles,
)
from ml.errors import CandleConflictError
from ml.ingest import closed_candles, merge_candles
from pipelines.ingest.store import (
    CandleStore,
    atomic_write_bytes,
    encode_candles,
    has_new_data,
)
from tests.ingest.fake_servers import DAY_MS, ms, synthetic_klines

REPO = Path(__file__).resolve().parents[2]


def _frame(start: str, n: int, seed: int = 7) -> pd.DataFrame:
    return candles_from_klines(synthetic_klines(ms(start), n, DAY_MS, seed=seed))


def test_seeds_from_bundled_and_versions_match(tmp_path):
    store = CandleStore(tmp_path / "data")
    version = store.version("1d")
    assert store.path("1d").name == "btcusdt_1d.csv.gz"
    assert version == data_version(read_candles(bundled_path("1d")))
    assert version.first == "2018-01-01" and version.last == "2025-05-27"


def test_encoding_round_trips_exactly(tmp_path):
    frame = _frame("2020-01-01", 50)
    path = tmp_path / "x.csv.gz"
    path.write_bytes(encode_candles(frame))
    assert_frame_equal(read_candles(path), frame)
    assert encode_candles(frame) == encode_candles(frame.copy())  # deterministic bytes


def test_update_twice_adds_nothing_the_second_time(store):
    first = store.update("1d", _frame("2020-01-01", 100))
    before = store.path("1d").read_bytes()
    mtime = store.path("1d").stat().st_mtime_ns
    second = store.update("1d", _frame("2020-01-01", 100))

    assert (first.added, first.written) == (100, True)
    assert (second.added, second.duplicates, second.written) == (0, 100, False)
    assert store.path("1d").read_bytes() == before
    assert store.path("1d").stat().st_mtime_ns == mtime
    assert second.version == first.version
    stored = store.load("1d")
    assert len(stored) == 100 and stored[OPEN_TIME].is_unique


def test_incremental_overlap_appends_only_new_rows(store):
    full = _frame("2020-01-01", 120)
    store.update("1d", full.iloc[:100])
    result = store.update("1d", full.iloc[95:])  # 5 overlapping, 20 new
    assert (result.added, result.duplicates) == (20, 5)
    assert_frame_equal(store.load("1d"), full)
    assert result.version == data_version(full)


def test_duplicates_inside_one_batch_are_dropped(store):
    frame = _frame("2020-01-01", 10)
    result = store.update("1d", pd.concat([frame, frame.iloc[3:6]]))
    assert result.added == 10
    assert_frame_equal(store.load("1d"), frame)


def test_conflicting_values_are_refused_and_the_file_is_unchanged(store):
    frame = _frame("2020-01-01", 30)
    store.update("1d", frame)
    before = store.path("1d").read_bytes()
    bad = frame.iloc[20:].copy()
    bad.loc[bad.index[2], CLOSE] = 1.0
    stamp = bad[OPEN_TIME].iloc[2].strftime("%Y-%m-%dT%H:%MZ")
    with pytest.raises(
        CandleConflictError,
        match=rf"close at {stamp}: got 1\.0, expected the stored value",
    ):
        store.update("1d", bad)
    assert store.path("1d").read_bytes() == before


def test_conflict_within_one_batch_is_refused():
    a = _frame("2020-01-01", 3)
    b = a.copy()
    b[CLOSE] = b[CLOSE] + 1
    with pytest.raises(CandleConflictError, match="close at 2020-01-01T00:00Z"):
        merge_candles(a.iloc[:0], pd.concat([a, b]))


def test_closed_candles_boundary():
    frame = _frame("2020-01-01", 3)
    now = pd.Timestamp("2020-01-03")  # day 2 closes exactly now, day 3 is open
    assert list(closed_candles(frame, "1d", now)[OPEN_TIME].dt.day) == [1, 2]


def test_has_new_data(store):
    full = _frame("2020-01-01", 40)
    store.update("1d", full.iloc[:30])
    assert has_new_data(store, "1d", full)
    assert not has_new_data(store, "1d", full.iloc[:30])
    assert not has_new_data(store, "1d", full.iloc[:10])


def test_crash_before_replace_keeps_the_old_file(store, monkeypatch):
    store.update("1d", _frame("2020-01-01", 30))
    before = store.path("1d").read_bytes()

    def boom(*args):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="simulated crash"):
        store.update("1d", _frame("2020-01-01", 60))
    monkeypatch.undo()
    assert store.path("1d").read_bytes() == before
    assert sorted(p.name for p in store.root.iterdir()) == [
        ".btcusdt_1d.csv.gz.lock",
        "btcusdt_1d.csv.gz",
    ]


def test_writer_killed_mid_write_leaves_the_old_file_intact(store):
    """A real SIGKILL after half the new bytes are written: the old file survives."""
    store.update("1d", _frame("2020-01-01", 30))
    path = store.path("1d")
    before = path.read_bytes()
    new = encode_candles(_frame("2020-01-01", 400))
    child = textwrap.dedent("""
        import os, signal, sys
        from pathlib import Path
        from pipelines.ingest.store import atomic_write_bytes
        data = Path(sys.argv[2]).read_bytes()
        def chunks():
            yield data[: len(data) // 2]
            os.kill(os.getpid(), signal.SIGKILL)
            yield data[len(data) // 2 :]
        atomic_write_bytes(Path(sys.argv[1]), chunks())
    """)
    payload = store.root.parent / "new.bin"
    payload.write_bytes(new)
    proc = subprocess.run(
        [sys.executable, "-c", child, str(path), str(payload)], cwd=REPO, timeout=60
    )

    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert_frame_equal(read_candles(path), _frame("2020-01-01", 30))
    stray = list(store.root.glob(".btcusdt_1d.csv.gz.*.tmp"))
    assert len(stray) == 1 and stray[0].stat().st_size <= len(new) // 2 + 1
    store.update(
        "1d", _frame("2020-01-01", 31)
    )  # the next update cleans the stray temp
    assert not list(store.root.glob("*.tmp"))
    assert len(store.load("1d")) == 31


def test_atomic_write_creates_and_replaces(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, [b"one"])
    atomic_write_bytes(path, [b"tw", b"o"])
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["umask-022", "umask-077"])
def test_atomic_write_gives_umask_permissions_and_keeps_existing_ones(tmp_path, umask):
    import os
    import stat

    path = tmp_path / "f.bin"
    old = os.umask(umask)
    try:
        atomic_write_bytes(path, [b"one"])  # mkstemp alone would leave 0600
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
        path.chmod(0o604)
        atomic_write_bytes(path, [b"two"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o604
    finally:
        os.umask(old)
