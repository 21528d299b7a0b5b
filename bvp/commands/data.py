"""``bvp data``: check candle files (and update the local store)."""

from __future__ import annotations

from pathlib import Path

import click

from ml.data import read_candles
from ml.errors import BVPError
from ml.validation import validate_candles


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
    try:
        report = validate_candles(read_candles(file), interval, gap_policy)  # type: ignore[arg-type]
    except BVPError as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    click.echo(f"file:     {file}")
    click.echo(report.as_text())
    click.echo("status:   ok")
