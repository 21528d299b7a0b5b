"""``bvp backtest``: columns, realised values, and no change to shared origins when
candles are appended (the acceptance check, on a short slice for speed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bvp.cli import main
from ml.backtest import BACKTEST_COLUMNS
from ml.data import bundled_path

pytestmark = pytest.mark.slow

N_DAYS = 520
DROP = 200
START = "2018-11-01"


def _slice(src: Path, dst: Path, last_day: str) -> None:
    """Copy the header and every row opening before ``last_day`` + 1 day (ISO prefix)."""
    with gzip.open(src, "rt") as fh:
        lines = fh.readlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if ln[:10] <= last_day]
    dst.write_text("".join(keep))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    tmp = tmp_path_factory.mktemp("backtest")
    days = pd.date_range("2018-01-01", periods=N_DAYS, freq="D")
    out = []
    for tag, last in (("full", days[-1]), ("short", days[-1 - DROP])):
        d, h = tmp / f"{tag}_1d.csv", tmp / f"{tag}_4h.csv"
        _slice(bundled_path("1d"), d, str(last.date()))
        _slice(bundled_path("4h"), h, str(last.date()))
        csv = tmp / f"{tag}.csv"
        res = CliRunner().invoke(
            main,
            [
                "backtest",
                "--data",
                str(d),
                "--data-4h",
                str(h),
                "--start",
                START,
                "--out",
                str(csv),
            ],  # fmt: skip
        )
        assert res.exit_code == 0, res.output
        out.append(pd.read_csv(csv))
    return out[0], out[1]


def test_columns_and_probabilities(runs: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    full, _ = runs
    assert list(full.columns) == list(BACKTEST_COLUMNS)
    assert full["horizon"].between(1, 30).all()
    p = full[["p_low", "p_normal", "p_high"]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert (full["vol_lo"] < full["vol_forecast"]).all() and (
        full["vol_forecast"] < full["vol_hi"]
    ).all()
    known = full["realized_regime"].notna()
    assert (
        known.any() and (~known).any()
    )  # realised values where known, blank after the end
    assert full.loc[known, "realized_vol"].gt(0).all()


def test_appending_candles_leaves_shared_origins_identical(
    runs: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    full, short = runs
    cols = [
        "origin_date",
        "horizon",
        "p_low",
        "p_normal",
        "p_high",
        "vol_forecast",
        "vol_lo",
        "vol_hi",
    ]
    shared = short[cols].merge(
        full[cols], on=["origin_date", "horizon"], suffixes=("_s", "_f")
    )
    assert len(shared) == len(short) > 0
    for c in cols[2:]:
        np.testing.assert_array_equal(shared[f"{c}_s"], shared[f"{c}_f"], err_msg=c)


def test_bad_thresholds_name_the_option(tmp_path: Path) -> None:
    d = tmp_path / "d.csv"
    _slice(bundled_path("1d"), d, "2018-06-30")
    res = CliRunner().invoke(
        main,
        [
            "backtest",
            "--data",
            str(d),
            "--start",
            "2018-05-01",
            "--out",
            str(tmp_path / "o.csv"),
            "--thresholds",
            "0.7,0.4",
        ],  # fmt: skip
    )
    assert res.exit_code != 0 and "thresholds" in res.output


def _invoke(tmp_path: Path, *args: str) -> object:
    d = tmp_path / "d.csv"
    if not d.exists():
        _slice(bundled_path("1d"), d, "2019-02-28")
    return CliRunner().invoke(main, ["backtest", "--data", str(d), *args])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2018-03-01"], "start: got '2018-03-01', expected 2018-09-28 or later"),
        (["--start", "2019-06-01"], "expected 2019-02-28 (the data's last day) or earlier"),
        (["--start", "2019-01-01T00:00Z"], "expected a date YYYY-MM-DD"),
        (["--start", "01/02/2019"], "expected a date YYYY-MM-DD"),
        (["--start", "2019-01-01", "--thresholds", "0.3,1e200"], "high <= 10"),
        (["--start", "2019-01-01", "--thresholds", "abc"], "--thresholds"),
        (["--start", "2019-01-01", "--refit-every", "0"], "--refit-every"),
    ],
    ids=["too-early", "after-end", "time-zone", "day-first", "huge-threshold",
         "threshold-text", "zero-refit"],
)  # fmt: skip
def test_bad_input_is_one_clear_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "o.csv"
    res = _invoke(tmp_path, *args, "--out", str(out))
    assert res.exit_code != 0  # type: ignore[attr-defined]
    assert message in res.output and "Traceback" not in res.output  # type: ignore[attr-defined]
    assert not out.exists()


def test_unwritable_out_is_an_error_and_an_earlier_file_survives(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = _invoke(tmp_path, "--start", "2019-02-01", "--out", str(blocker / "o.csv"))
    assert res.exit_code != 0 and (  # checked before the walk-forward runs
        f"--out {blocker / 'o.csv'}: folder {blocker} is a file, not a directory"
        in res.output
    )  # type: ignore[attr-defined]
    typo = tmp_path / "no-such-dir" / "sub" / "o.csv"
    res = _invoke(tmp_path, "--start", "2019-02-01", "--out", str(typo))
    assert res.exit_code != 0 and (  # used to create both folders and write there
        f"--out {typo}: folder {typo.parent} does not exist" in res.output
    )  # type: ignore[attr-defined]
    assert not (tmp_path / "no-such-dir").exists()
    good = tmp_path / "good.csv"
    good.write_text("earlier result\n")
    import pipelines.steps

    def fail(path: object, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    orig, pipelines.steps.atomic_write_bytes = pipelines.steps.atomic_write_bytes, fail  # type: ignore[assignment]
    try:
        res = _invoke(tmp_path, "--start", "2019-02-01", "--out", str(good))
    finally:
        pipelines.steps.atomic_write_bytes = orig  # type: ignore[assignment]
    assert res.exit_code != 0 and "No space left on device" in res.output  # type: ignore[attr-defined]
    assert good.read_text() == "earlier result\n"


def test_file_of_the_wrong_interval_is_refused(tmp_path: Path) -> None:
    """The daily file given as --data-4h."""
    res = _invoke(tmp_path, "--start", "2019-01-01", "--data-4h", str(tmp_path / "d.csv"),
                  "--out", str(tmp_path / "o.csv"))  # fmt: skip
    assert (
        res.exit_code != 0
        and "--data-4h" in res.output
        and "got 'candles 1 day apart (median)', expected 4h candles" in res.output
    )  # type: ignore[attr-defined]


def test_gaps_are_refused_unless_reported(tmp_path: Path) -> None:
    d = tmp_path / "d.csv"
    _slice(bundled_path("1d"), d, "2019-02-28")
    lines = d.read_text().splitlines(keepends=True)
    d.write_text("".join(lines[:200] + lines[201:]))  # one missing day
    out = tmp_path / "o.csv"
    res = _invoke(tmp_path, "--start", "2019-02-01", "--out", str(out))
    assert res.exit_code != 0 and not out.exists()  # type: ignore[attr-defined]
    assert f"Error: --data {d}: open_time at " in res.output  # type: ignore[attr-defined]
    assert "pass --gaps report to accept gaps" in res.output  # type: ignore[attr-defined]
    res = _invoke(
        tmp_path, "--start", "2019-02-01", "--gaps", "report", "--out", str(out)
    )
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert "1 gap(s) accepted" in res.output and out.exists()  # type: ignore[attr-defined]


@pytest.mark.parametrize("option", ["--data", "--data-4h"])
def test_unreadable_input_names_the_option_and_the_file(
    tmp_path: Path, option: str
) -> None:
    empty = tmp_path / "empty.csv.gz"
    empty.write_bytes(gzip.compress(b""))
    d = tmp_path / "d.csv"
    _slice(bundled_path("1d"), d, "2019-02-28")
    files = {"--data": str(d), option: str(empty)}
    args = [x for kv in files.items() for x in kv]
    out = tmp_path / "o.csv"
    res = CliRunner().invoke(
        main, ["backtest", *args, "--start", "2019-02-01", "--out", str(out)]
    )
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert (
        res.output
        == f"Error: {option} {empty}: empty file, expected a CSV or JSON candle file\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "spell"),
    [("--data", "same"), ("--data", "symlink"), ("--data-4h", "relative")],
)
def test_out_that_is_an_input_file_is_refused_and_the_input_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, spell: str
) -> None:
    d, h = tmp_path / "d.csv", tmp_path / "h.csv"
    _slice(bundled_path("1d"), d, "2019-02-28")
    _slice(bundled_path("4h"), h, "2019-02-28")
    before = {d: d.read_bytes(), h: h.read_bytes()}
    target = d if option == "--data" else h
    out = {"same": target, "symlink": tmp_path / "link.csv",
           "relative": Path(".") / target.name}[spell]  # fmt: skip
    if spell == "symlink":
        out.symlink_to(target)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        main,
        ["backtest", "--data", str(d), "--data-4h", str(h), "--start", "2019-02-01",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 2, res.output
    assert f"is the same file as {option} {target}" in res.output
    assert "Invalid value for --out" in res.output
    assert {d: d.read_bytes(), h: h.read_bytes()} == before


def test_out_gets_umask_permissions_or_keeps_the_replaced_files(
    tmp_path: Path,
) -> None:
    import os
    import stat

    out = tmp_path / "o.csv"
    old = os.umask(0o022)
    try:
        res = _invoke(tmp_path, "--start", "2019-02-20", "--out", str(out))
        assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        out.chmod(0o640)
        res = _invoke(tmp_path, "--start", "2019-02-20", "--out", str(out))
        assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
    finally:
        os.umask(old)
