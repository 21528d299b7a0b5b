"""``bvp data update`` end to end against the local fake Binance server."""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner

from bvp.cli import main
from ml.data import read_candles
from tests.ingest.fake_servers import FakeBinance, Fault, bundled_klines, ms


@pytest.fixture
def fake_binance(monkeypatch, tmp_path):
    now = time.time_ns() // 1_000_000
    with FakeBinance(
        {i: bundled_klines(i, "2025-05-01", now) for i in ("1d", "4h")}
    ) as fake:
        monkeypatch.setenv("BVP_HOME", str(tmp_path / "bvp"))
        monkeypatch.setenv("BVP_DATA__BINANCE_BASE_URL", fake.url)
        monkeypatch.setenv("BVP_DATA__BINANCE_BACKOFF_S", "0.01")
        yield fake


def _added(output: str) -> int:
    return int(re.search(r"^added:\s+(\d+) rows", output, re.M).group(1))


def test_update_binance_twice(fake_binance, tmp_path):
    runner = CliRunner()
    first = runner.invoke(
        main, ["data", "update", "--source", "binance", "--interval", "1d"]
    )
    assert first.exit_code == 0, first.output
    expected_new = sum(
        1
        for r in fake_binance.klines["1d"]
        if r[0] > ms("2025-05-27") and r[6] < time.time() * 1000
    )
    assert _added(first.stdout) == expected_new > 500
    assert "binance 1d" in first.stderr and "candle" in first.stderr  # the progress bar
    assert re.search(
        r"^version:  [0-9a-f]{16} rows=\d+ first=2018-01-01", first.stdout, re.M
    )

    second = runner.invoke(
        main, ["data", "update", "--source", "binance", "--interval", "1d"]
    )
    assert second.exit_code == 0, second.output
    assert _added(second.stdout) == 0 and "store unchanged" in second.stdout
    stored = read_candles(tmp_path / "bvp" / "data" / "btcusdt_1d.csv.gz")
    assert stored["open_time"].is_unique and stored["open_time"].is_monotonic_increasing


def test_update_both_intervals_survives_a_429(fake_binance):
    fake_binance.faults.append(Fault(429, {"Retry-After": "0"}))
    result = CliRunner().invoke(main, ["data", "update", "--source", "binance"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("source:   binance") == 2
    assert "(4h)" in result.stdout


def test_451_exits_non_zero_with_the_fix(fake_binance):
    fake_binance.faults.append(Fault(451))
    result = CliRunner().invoke(
        main, ["data", "update", "--source", "binance", "--interval", "1d"]
    )
    assert result.exit_code == 1
    assert "BVP_DATA__BINANCE_BASE_URL=https://data-api.binance.vision" in result.stderr
