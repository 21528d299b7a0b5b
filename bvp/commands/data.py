"""``bvp data``: check candle files (and update the local store)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

import click

from bvp.commands._candles import read_file, validate_file
from ml._typing import GapPolicy, Interval
from ml.errors import BVPError


@click.group(name="data")
def cli() -> None:
    """Candle data: validate files, update the local store."""


@cli.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--interval",
    type=click.Choice(["1d", "4h"]),
    default="1d",
    show_default=True,
    help="Expected spacing of the candles.",
)
@click.option(
    "--gaps",
    "gap_policy",
    type=click.Choice(["raise", "report"]),
    default="report",
    show_default=True,
    help="Missing candles: fail (raise) or list them (report).",
)
def check(file: Path, interval: str, gap_policy: str) -> None:
    """Validate FILE (Kaggle export, Binance rows or Yahoo layout) and print a report."""
    candles = read_file(file, str(file))
    report = validate_file(
        candles, cast(Interval, interval), cast(GapPolicy, gap_policy), str(file)
    )
    click.echo(f"file:     {file}")
    click.echo(report.as_text())
    if interval == "1d":
        click.echo(f"usable:   {_daily_use(candles)}")
    click.echo(f"status:   {_status(report.gaps, interval)}")


def _status(gaps: list[Any], interval: str) -> str:
    """``ok``, or ``ok`` with what the gaps mean for the commands that read the file."""
    if not gaps:
        return "ok"
    n = f"{len(gaps)} gap{'s' if len(gaps) > 1 else ''}"
    if interval == "4h":
        return f"ok with {n} (accepted by default in 4-hour candles)"
    return (
        f"ok with {n}: training and bvp backtest refuse gaps in daily candles unless "
        "BVP_DATA__GAP_POLICY_1D=report or --gaps report"
    )


def _daily_use(candles: Any) -> str:
    """What daily candles are enough for: the first forecast day and backtest start."""
    from ml.backtest import first_start_index
    from ml.data import OPEN_TIME
    from ml.features import MIN_HISTORY

    days = candles[OPEN_TIME].sort_values().dt.strftime("%Y-%m-%d").to_numpy()
    if len(days) < MIN_HISTORY:
        plural = "" if len(days) == 1 else "s"
        return (
            f"too short for a forecast: {len(days)} daily candle{plural}, a forecast needs "
            f"{MIN_HISTORY} up to its as-of day"
        )
    use = f"forecasts as of {days[MIN_HISTORY - 1]} or later"
    backtest = first_start_index()
    if len(days) <= backtest:
        return (
            f"{use}; too short for bvp backtest: {len(days)} daily candles, "
            f"it needs {backtest + 1}"
        )
    return f"{use}; bvp backtest --start {days[backtest]} or later"


@cli.command("update")
@click.option(
    "--source",
    type=click.Choice(["binance", "kaggle"]),
    required=True,
    help="Where new candles come from: Binance klines API or the Kaggle dataset.",
)
@click.option(
    "--interval",
    "intervals",
    type=click.Choice(["1d", "4h"]),
    multiple=True,
    help="Interval to update (repeatable); default both 1d and 4h.",
)
@click.option(
    "--gaps",
    "gap_policy",
    type=click.Choice(["raise", "report"]),
    default=None,
    help="Missing candles: refuse the update (raise) or keep and list them "
    "(report). Default: BVP_DATA__GAP_POLICY_1D / BVP_DATA__GAP_POLICY_4H.",
)
def update(source: str, intervals: tuple[str, ...], gap_policy: str | None) -> None:
    """Fetch new closed candles into the local store and print a summary."""
    from ml.settings import Settings
    from pipelines.ingest.update import update_from_binance, update_from_kaggle

    settings = Settings()
    policy = cast(GapPolicy | None, gap_policy)
    hint = "pass --gaps report to accept gaps" if policy else None  # else the setting
    for name in intervals or ("1d", "4h"):
        interval = cast(Interval, name)
        try:
            if source == "binance":
                with _Bar(f"binance {interval}") as bar:
                    result = update_from_binance(
                        settings,
                        interval,
                        progress=bar,
                        gap_policy=policy,
                        gap_hint=hint,
                    )
            else:
                click.echo(
                    f"kaggle {interval}: downloading {settings.data.kaggle_dataset}",
                    err=True,
                )
                result = update_from_kaggle(
                    settings, interval, gap_policy=policy, gap_hint=hint
                )
        except BVPError as exc:
            raise click.ClickException(f"{source} {interval}: {exc}") from exc
        click.echo(_summary(result))


class _Bar:
    """tqdm bar on stderr, sized once the expected number of candles is known."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __enter__(self) -> _Bar:
        return self

    def __call__(self, rows: int, expected: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=expected, desc=self.label, unit="candle", file=sys.stderr,
                mininterval=0, dynamic_ncols=False, ncols=80,
            )  # fmt: skip
        self.bar.update(rows)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _summary(result: object) -> str:
    from pipelines.ingest.update import IngestResult

    assert isinstance(result, IngestResult)
    up, rep = result.store, result.store.report
    v = up.version
    lines = [
        f"source:   {result.source} ({up.interval})",
        f"fetched:  {result.fetched} closed candles, "
        f"{result.newer} newer than the store",
        f"added:    {up.added} rows ({up.duplicates} already stored)"
        + ("" if up.written else "; store unchanged"),
        f"range:    {rep.first} .. {rep.last} ({rep.rows} rows)",
        f"gaps:     {len(rep.gaps)} ({rep.missing} missing candles), "
        f"{len(up.new_gaps)} new in this update",
    ]
    lines += [
        f"  new gap after {a}, next is {b} ({n} missing)"
        for a, b, n in up.new_gaps[:10]
    ]
    lines += [
        f"version:  {v.sha256[:16]} rows={v.rows} first={v.first} last={v.last}",
        f"store:    {up.path}",
    ]
    return "\n".join(lines)
