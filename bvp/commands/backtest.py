"""``bvp backtest``: walk-forward forecasts of the structural model on any candle file."""

from __future__ import annotations

from pathlib import Path

import click

from ml.errors import BVPError


@click.command("backtest")
@click.option(
    "--data", "data", required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Daily candle file (Kaggle export, Binance rows or Yahoo layout).",
)  # fmt: skip
@click.option(
    "--data-4h", "data_4h", default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Optional 4-hour candle file (improves the variance forecast).",
)  # fmt: skip
@click.option(
    "--start", required=True, help="First origin date (ISO), e.g. 2021-01-01."
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Output CSV, one row per (origin_date, horizon).",
)  # fmt: skip
@click.option(
    "--refit-every", default=30, show_default=True, help="Days between refits."
)
@click.option(
    "--thresholds", default="0.40,0.65", show_default=True,
    help="Regime thresholds on annualised V30: LOW,HIGH.",
)  # fmt: skip
def backtest(
    data: Path,
    data_4h: Path | None,
    start: str,
    out: Path,
    refit_every: int,
    thresholds: str,
) -> None:
    """Write walk-forward regime probabilities and volatility forecasts for every origin."""
    from ml.backtest import backtest_frame, run_backtest
    from ml.data import read_candles
    from ml.labels import check_thresholds
    from ml.panel import build_panel
    from ml.validation import validate_candles

    try:
        th = check_thresholds([float(x) for x in thresholds.split(",")])
        daily = read_candles(data)
        validate_candles(daily, "1d", "raise")
        h4 = None
        if data_4h is not None:
            h4 = read_candles(data_4h)
            validate_candles(h4, "4h", "report")
        panel = build_panel(daily, h4, th)
        frame = backtest_frame(panel, run_backtest(panel, start, refit_every))
    except (BVPError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, float_format="%.10g")
    known = frame["realized_regime"].astype(bool).sum()
    click.echo(f"wrote {len(frame)} rows ({known} with realised values) to {out}")
