"""Binance klines client against a local server speaking the klines wire format."""

from __future__ import annotations

import socket

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ml.data import CLOSE, OPEN_TIME, VOLUME
from ml.errors import (
    ConfigError,
    DataValidationError,
    SourceBlockedError,
    SourceError,
    SourcePayloadError,
    SourceUnavailableError,
)
from pipelines.ingest.binance import BinanceClient
from tests.ingest.conftest import N_DAYS, START
from tests.ingest.fake_servers import DAY_MS, Fault, ms, synthetic_klines


def _expected(klines: list[list]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            OPEN_TIME: pd.to_datetime([r[0] for r in klines], unit="ms"),
            CLOSE: [float(r[4]) for r in klines],
            VOLUME: [float(r[5]) for r in klines],
        }
    )


def test_pages_through_2500_days_and_drops_the_open_candle(
    client, binance, klines_2500
):
    got = client.fetch_candles("1d", ms(START))

    want = _expected(klines_2500[:N_DAYS])  # the last served candle is still open
    assert len(got) == N_DAYS
    assert got[OPEN_TIME].is_monotonic_increasing
    assert not got[OPEN_TIME].duplicated().any()
    assert (got[OPEN_TIME] == want[OPEN_TIME]).all()
    assert_allclose(got[CLOSE], want[CLOSE])
    assert_allclose(got[VOLUME], want[VOLUME])
    pages = [r for r in binance.requests if r["path"] == "/api/v3/klines"]
    assert [int(r["limit"]) for r in pages] == [1000, 1000, 1000]
    starts = [int(r["startTime"]) for r in pages]
    assert starts == [ms(START), klines_2500[999][0] + 1, klines_2500[1999][0] + 1]


def test_full_last_page_asks_once_more_and_stops_on_empty(binance, now_ms, sleeps):
    binance.klines["1d"] = synthetic_klines(ms(START), 2000, DAY_MS)
    with BinanceClient(binance.url, clock=lambda: now_ms, sleep=sleeps.append) as c:
        got = c.fetch_candles("1d", ms(START))
    assert len(got) == 2000
    assert len(binance.requests) == 3  # 1000, 1000, then an empty page


def test_candle_closing_exactly_now_is_kept(binance, klines_2500):
    last = klines_2500[-1]
    with BinanceClient(binance.url, clock=lambda: last[6] + 1) as c:
        got = c.fetch_candles("1d", klines_2500[-3][0])
    assert list(got[OPEN_TIME]) == list(
        pd.to_datetime([r[0] for r in klines_2500[-3:]], unit="ms")
    )


@pytest.mark.parametrize(
    ("fault", "expected_sleep"),
    [
        pytest.param(Fault(429, {"Retry-After": "1"}), 1.0, id="429-retry-after"),
        pytest.param(Fault(418, {"Retry-After": "0.5"}), 0.5, id="418-retry-after"),
        pytest.param(Fault(500), 0.01, id="500-backoff"),
        pytest.param(Fault(503), 0.01, id="503-backoff"),
    ],
)
def test_retries_then_succeeds(client, binance, sleeps, fault, expected_sleep):
    binance.faults.append(fault)
    got = client.fetch_candles("1d", ms("2024-01-01"))
    assert sleeps == [expected_sleep]
    assert len(got) == N_DAYS - (ms("2024-01-01") - ms(START)) // DAY_MS
    assert not got[OPEN_TIME].duplicated().any()


def test_backoff_doubles_then_gives_up(client, binance, sleeps):
    binance.faults.extend(Fault(502) for _ in range(4))
    with pytest.raises(
        SourceUnavailableError, match=r"gave up after 4 attempt\(s\); last: HTTP 502"
    ):
        client.fetch_candles("1d", ms("2024-01-01"))
    assert sleeps == [0.01, 0.02, 0.04]


def test_retry_after_longer_than_allowed_fails_at_once(client, binance, sleeps):
    binance.faults.append(Fault(418, {"Retry-After": "7200"}))
    with pytest.raises(
        SourceUnavailableError,
        match=r"Retry-After: 7200 s.*BVP_DATA__BINANCE_MAX_WAIT_S=5",
    ):
        client.fetch_candles("1d", ms("2024-01-01"))
    assert sleeps == []


def test_451_names_the_setting_and_alternative_host(client, binance, sleeps):
    binance.faults.append(
        Fault(
            451,
            body=b'{"code":0,"msg":"Service unavailable from a restricted location"}',
        )
    )
    with pytest.raises(
        SourceBlockedError,
        match=r"HTTP 451.*Set BVP_DATA__BINANCE_BASE_URL=https://data-api\.binance\.vision",
    ) as info:
        client.fetch_candles("1d", ms(START))
    assert binance.url in str(info.value)
    assert len(binance.requests) == 1 and sleeps == []


def test_truncated_json_is_a_payload_error(client, binance, sleeps):
    binance.faults.append(Fault(truncate=True))
    with pytest.raises(SourcePayloadError, match=r"expected a JSON array of klines"):
        client.fetch_candles("1d", ms(START))
    assert len(binance.requests) == 1 and sleeps == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"code":-1,"msg":"oops"}', id="object"),
        pytest.param(b'[{"t":1}]', id="row-not-array"),
        pytest.param(b'[[1514764800000,"1","2"]]', id="short-row"),
        pytest.param(b'[["2018-01-01","1","2","0.5","1","9",1]]', id="string-time"),
    ],
)
def test_malformed_rows_are_payload_errors(client, binance, body):
    binance.faults.append(Fault(200, body=body))
    with pytest.raises(
        SourcePayloadError, match=r"expected .*klines|expected kline rows"
    ):
        client.fetch_candles("1d", ms(START))


def test_other_4xx_reports_binance_message_without_retry(binance, now_ms, sleeps):
    with (
        BinanceClient(
            binance.url, "NOPE", clock=lambda: now_ms, sleep=sleeps.append
        ) as c,
        pytest.raises(SourceError, match=r"HTTP 400: Invalid symbol\. \(code -1121\)"),
    ):
        c.fetch_candles("1d", ms(START))
    assert sleeps == []


def test_network_errors_are_retried_then_reported(now_ms, sleeps):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        BinanceClient(
            f"http://127.0.0.1:{port}",
            max_retries=2,
            backoff_s=0.01,
            clock=lambda: now_ms,
            sleep=sleeps.append,
        ) as c,
        pytest.raises(
            SourceUnavailableError,
            match=r"gave up after 3 attempt\(s\); last: ConnectError",
        ),
    ):
        c.fetch_candles("1d", ms(START))
    assert sleeps == [0.01, 0.02]


def test_missing_candle_stays_missing_and_the_store_reports_it(
    binance, klines_2500, now_ms, store
):
    rows = klines_2500[-30:]
    hole = rows.pop(10)
    binance.klines["1d"] = rows
    with BinanceClient(binance.url, clock=lambda: now_ms) as c:
        got = c.fetch_candles("1d", rows[0][0])
    assert len(got) == 28  # 30 served - 1 missing - 1 open
    assert pd.Timestamp(hole[0], unit="ms") not in set(got[OPEN_TIME])

    with pytest.raises(
        DataValidationError, match=r"expected the next 1d candle after .* \(1 missing"
    ):
        store.update("1d", got, gap_policy="raise")
    assert not store.path("1d").exists()
    result = store.update("1d", got, gap_policy="report")
    assert [g[2] for g in result.new_gaps] == [1]
    assert result.report.missing == 1


@pytest.mark.parametrize("url", ["", "api.binance.com", "ftp://x"])
def test_base_url_without_scheme_is_a_config_error(url):
    with pytest.raises(
        ConfigError,
        match=r"BVP_DATA__BINANCE_BASE_URL: got .*expected an http\(s\) URL",
    ):
        BinanceClient(url)


def test_invalid_interval_and_page_limit():
    with pytest.raises(
        DataValidationError, match=r"page_limit: got 5000, expected 1\.\.1000"
    ):
        BinanceClient("http://127.0.0.1:9", page_limit=5000)
    with (
        BinanceClient("http://127.0.0.1:9") as c,
        pytest.raises(DataValidationError, match="interval"),
    ):
        c.fetch_candles("1h", 0)  # type: ignore[arg-type]


def test_small_pages(binance, now_ms):
    """Any page size works: 2,500 candles in pages of 300."""
    with BinanceClient(binance.url, page_limit=300, clock=lambda: now_ms) as c:
        got = c.fetch_candles("1d", ms(START))
    assert len(got) == N_DAYS and got[OPEN_TIME].is_unique
    assert len(binance.requests) == 9


def test_fake_matches_expected_server_rules(binance):
    """Sanity of the fake itself: limit > 1000 is refused like Binance does."""
    import httpx

    r = httpx.get(
        f"{binance.url}/api/v3/klines",
        params={"symbol": "BTCUSDT", "interval": "1d", "limit": 1001},
    )
    assert r.status_code == 400 and r.json()["code"] == -1130
