"""Reading every supported candle layout into the canonical frame."""

import json

import pandas as pd
import pytest

from ml.data import (
    CANDLE_COLUMNS,
    bundled_path,
    candles_from_klines,
    data_version,
    read_candles,
)
from ml.errors import DataValidationError

KAGGLE_UTC = """Open time,Open,High,Low,Close,Volume,Close time,Quote asset volume,Number of trades,Taker buy base asset volume,Taker buy quote asset volume,Ignore
2018-01-01 00:00:00.000000 UTC,13715.65,13818.55,12750.0,13380.0,8609.9,2018-01-01 23:59:59.999000 UTC,1,2,3,4,0
2018-01-02 00:00:00.000000 UTC,13382.16,15473.49,12890.02,14675.11,20078.1,2018-01-02 23:59:59.999000 UTC,1,2,3,4,0
"""
KAGGLE_PLAIN = KAGGLE_UTC.replace(".000000 UTC", "").replace(".999000 UTC", ".999")
BINANCE_MS = """Open time,Open,High,Low,Close,Volume,Close time,Quote asset volume,Number of trades,Taker buy base asset volume,Taker buy quote asset volume,Ignore
1514764800000,13715.65,13818.55,12750.0,13380.0,8609.9,1514851199999,1,2,3,4,0
1514851200000,13382.16,15473.49,12890.02,14675.11,20078.1,1514937599999,1,2,3,4,0
"""
BINANCE_NO_HEADER = "\n".join(BINANCE_MS.splitlines()[1:]) + "\n"
YAHOO = """Volume,Date,Close,Adj Close,Low,High,Open
8609.9,2018-01-01,13380.0,13380.0,12750.0,13818.55,13715.65
20078.1,2018-01-02,14675.11,14675.11,12890.02,15473.49,13382.16
"""


@pytest.mark.parametrize(
    "text",
    [KAGGLE_UTC, KAGGLE_PLAIN, BINANCE_MS, BINANCE_NO_HEADER, YAHOO],
    ids=[
        "kaggle-utc",
        "kaggle-plain",
        "binance-ms",
        "binance-no-header",
        "yahoo-any-order",
    ],
)
def test_every_layout_reads_to_the_same_frame(tmp_path, text):
    path = tmp_path / "c.csv"
    path.write_text(text)
    frame = read_candles(path)
    assert list(frame.columns) == list(CANDLE_COLUMNS)
    assert frame["open_time"].tolist() == [
        pd.Timestamp("2018-01-01"),
        pd.Timestamp("2018-01-02"),
    ]
    assert frame["close"].tolist() == [13380.0, 14675.11]
    assert frame["volume"].tolist() == [8609.9, 20078.1]


def test_json_klines(tmp_path):
    rows = [
        [
            1514764800000,
            "13715.65",
            "13818.55",
            "12750.0",
            "13380.0",
            "8609.9",
            1514851199999,
        ]
    ]
    path = tmp_path / "k.json"
    path.write_text(json.dumps(rows))
    frame = read_candles(path)
    assert frame["open_time"].iloc[0] == pd.Timestamp("2018-01-01")
    assert frame["high"].iloc[0] == 13818.55
    assert candles_from_klines(rows).equals(frame)


def test_bundled_files_are_real_binance_candles():
    daily = read_candles(bundled_path("1d"))
    h4 = read_candles(bundled_path("4h"))
    assert (len(daily), len(h4)) == (2704, 16208)
    assert daily["open_time"].iloc[0] == pd.Timestamp("2018-01-01")
    assert daily["open_time"].iloc[-1] == pd.Timestamp("2025-05-27")
    assert daily["close"].iloc[0] == 13380.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "Date,Open,High,Low,Close\n2020-01-01,1,2,0.5,1.5\n",
            r"columns: .* expected a Volume column",
        ),
        ("Foo,Open\n1,2\n", r"expected a time column"),
        (
            "Date,Open,High,Low,Close,Volume\n2020-13-45,1,2,0.5,1.5,3\n",
            r"open_time at row 1: got '2020-13-45'",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2020-01-01,abc,2,0.5,1.5,3\n",
            r"open at 2020-01-01T00:00Z: got 'abc', expected a number",
        ),
    ],
    ids=["no-volume", "no-time", "bad-date", "non-numeric"],
)
def test_unreadable_input_names_field_and_value(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataValidationError, match=match):
        read_candles(path)


def test_data_version_depends_on_content_only():
    daily = read_candles(bundled_path("1d"))
    a, b = data_version(daily), data_version(daily.copy())
    assert a == b and a.rows == 2704 and a.first == "2018-01-01"
    changed = daily.copy()
    changed.loc[5, "close"] += 1
    assert data_version(changed).sha256 != a.sha256


@pytest.mark.parametrize(
    "value",
    [
        "2025-05-27T12:00:00Z",
        "27/05/2025",
        "2025",
        "2025-05",
        "nan",
        "",
        None,
        20250527,
    ],
)
def test_parse_day_accepts_only_yyyy_mm_dd(value: object) -> None:
    from ml.data import parse_day

    with pytest.raises(
        DataValidationError, match="start: got .*expected a date YYYY-MM-DD"
    ):
        parse_day(value, "start")


def test_parse_day_refuses_impossible_dates_and_reads_good_ones() -> None:
    from ml.data import parse_day

    assert parse_day("2024-02-29", "asof") == pd.Timestamp("2024-02-29")
    with pytest.raises(
        DataValidationError, match="asof: got '2025-02-30', not a calendar date"
    ):
        parse_day("2025-02-30", "asof")


def _gzip_of(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.csv", b"", "empty file, expected a CSV or JSON candle file"),
        ("blank.csv", b"\n \n", "empty file"),
        ("empty.csv.gz", _gzip_of(b""), "empty file"),
        ("junk.bin", b"\xb2\x07\xff" * 50, "binary or not UTF-8 text: byte 0xb2"),
        ("nul.csv", b"Date,Open\n\x00\x01", "binary or not UTF-8 text: byte 0x00"),
        ("junk.csv.gz", b"\xb2\x07" * 50, "named .gz but has no gzip header"),
        ("gz-junk.csv.gz", _gzip_of(b"\xff\xfe" * 9), "0xff at offset 0; after gunzip"),
        ("cut.csv.gz", _gzip_of(b"Date,Open\n" * 99)[:30], "not a valid gzip file"),
        ("ragged.csv", b'Date,Open\n"2020-01-01,1\n', "not a CSV candle file"),
        ("bad.json", b"[[1, 2", "not a JSON array of klines"),
    ],
    ids=["empty", "blank", "empty-gz", "binary", "nul", "not-gz", "gz-binary",
         "cut-gz", "ragged", "bad-json"],
)  # fmt: skip
def test_unreadable_files_name_the_file_and_the_problem(
    tmp_path, name, content, problem
):
    from ml.errors import CandleFileError

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CandleFileError) as info:
        read_candles(path)
    assert str(info.value).startswith(f"{path}: ") and problem in str(info.value)
    assert "\n" not in str(info.value)


def test_a_bad_value_names_the_file_the_column_and_the_value(tmp_path):
    from ml.errors import CandleFileError

    path = tmp_path / "bad.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n2020-01-01,abc,2,0.5,1.5,3\n")
    with pytest.raises(CandleFileError) as info:
        read_candles(path)
    exc = info.value
    assert str(exc) == (
        f"{path}: open at 2020-01-01T00:00Z: got 'abc', expected a number"
    )
    assert (exc.column, exc.value, exc.at) == ("open", "abc", "2020-01-01T00:00Z")


MS = "1514764800000"
HEADER = "Open time,Open,High,Low,Close,Volume\n"
ROW = ",1,2,0.5,1.5,3\n"


@pytest.mark.parametrize(
    "text",
    [
        f'{HEADER}"{MS}"{ROW}"1514851200000"{ROW}',
        f'"{MS}","1","2","0.5","1.5","3"\n"1514851200000","1","2","0.5","1.5","3"\n',
        f"{HEADER}{MS}.0{ROW}1514851200000.0{ROW}",
        f"{HEADER}{MS}{ROW}2018-01-02 00:00:00 UTC{ROW}",
        f"{HEADER}1514764800{ROW}1514851200000{ROW}",
    ],
    ids=["quoted-ms", "quoted-no-header", "ms-as-float", "ms-and-dates", "s-and-ms"],
)
def test_epoch_times_as_text_are_read(tmp_path, text):
    path = tmp_path / "ms.csv"
    path.write_text(text)
    times = read_candles(path)["open_time"]
    assert times.tolist() == [pd.Timestamp("2018-01-01"), pd.Timestamp("2018-01-02")]


@pytest.mark.parametrize("value", ["151476480", "999999999999", "1.5", "-1000"])
def test_bad_epoch_times_say_how_many_digits_are_expected(value):
    from ml.data import parse_candles

    with pytest.raises(
        DataValidationError,
        match=rf"open_time at row 1: got '{value}', expected a timestamp like .* or "
        r"epoch time as digits \(10 for seconds, 13 for milliseconds",
    ):
        parse_candles(f"{HEADER}{value}{ROW}")
