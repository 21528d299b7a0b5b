"""``bvp backtest``: walk-forward forecasts of the structural model on any candle file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import click

from bvp.commands._candles import read_file, validate_file
from ml._typing import GapPolicy
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
    "--start", required=True, help="First origin date, YYYY-MM-DD, e.g. 2021-01-01."
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Output CSV, one row per (origin_date, horizon).",
)  # fmt: skip
@click.option(
    "--refit-every", default=30, show_default=True, type=click.IntRange(1, 3650),
    help="Days between refits.",
)  # fmt: skip
@click.option(
    "--gaps", type=click.Choice(["raise", "report"]), default="raise", show_default=True,
    help="Missing daily candles: refuse the file, or accept it and list them.",
)  # fmt: skip
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
    gaps: str,
    thresholds: str,
) -> None:
    """Write walk-forward regime probabilities and volatility forecasts for every origin."""
    from ml.backtest import backtest_frame, run_backtest
    from ml.labels import check_thresholds
    from ml.panel import build_panel
    from pipelines.steps import atomic_write_bytes

    _refuse_overwriting(out, {"--data": data, "--data-4h": data_4h})
    _check_out_folder(out)
    try:
        th = check_thresholds(_numbers(thresholds))
        label = f"--data {data}"
        daily = read_file(data, label)
        report = validate_file(daily, "1d", cast(GapPolicy, gaps), label)
        if report.gaps:
            click.echo(f"{label}: {len(report.gaps)} gap(s) accepted (--gaps report)")
        h4 = None
        if data_4h is not None:
            label_4h = f"--data-4h {data_4h}"
            h4 = read_file(data_4h, label_4h)
            validate_file(h4, "4h", "report", label_4h)
            if h4["open_time"].iloc[-1] < daily["open_time"].iloc[-1]:
                click.echo(
                    f"{label_4h}: ends {h4['open_time'].iloc[-1].date()}, before "
                    f"--data ({daily['open_time'].iloc[-1].date()}); later origins use "
                    "daily returns for the 4-hour features"
                )
        panel = build_panel(daily, h4, th)
        frame = backtest_frame(panel, run_backtest(panel, start, refit_every))
    except (BVPError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        body = frame.to_csv(index=False, float_format="%.10g").encode()
        if out.exists() and not out.is_file():  # /dev/stdout, a pipe: stream into it
            with out.open("wb") as f:
                f.write(body)
        else:  # temp file + rename: a failed write leaves an earlier file intact
            atomic_write_bytes(out, body)
    except OSError as exc:
        raise click.ClickException(
            f"--out {out}: cannot write ({exc.strerror or exc})"
        ) from exc
    known = frame["realized_regime"].astype(bool).sum()
    click.echo(f"wrote {len(frame)} rows ({known} with realised values) to {out}")


def _check_out_folder(out: Path) -> None:
    """Refuse, before the minutes of work, an --out whose folder does not exist (a
    typo would otherwise create folders wherever it points) or is a file."""
    parent = out.absolute().parent
    if parent.is_dir():
        return
    what = "is a file, not a directory" if parent.exists() else "does not exist"
    raise click.ClickException(f"--out {out}: folder {parent} {what}")


def _numbers(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"got {text!r}, expected LOW,HIGH such as 0.40,0.65",
            param_hint="--thresholds",
        ) from None


def _refuse_overwriting(out: Path, inputs: dict[str, Path | None]) -> None:
    """Refuse an ``--out`` that is one of the input files (same inode: also through a
    symlink, a hard link or another spelling of the path)."""
    for option, path in inputs.items():
        if path is not None and out.exists() and os.path.samefile(out, path):
            raise click.BadParameter(
                f"{out} is the same file as {option} {path}; writing the forecasts "
                "there would overwrite the input, choose another output file",
                param_hint="--out",
            )
