"""``bvp replay``: the weekly monitoring decision over history, offline."""

from __future__ import annotations

import re

import click

from ml.errors import BVPError, ConfigError
from ml.settings import Settings


def parse_every(value: str) -> int:
    """'7d' or '7' -> 7 days; 2w -> 14."""
    m = re.fullmatch(r"(\d+)\s*([dw]?)", value.strip())
    if not m or int(m.group(1)) == 0:
        raise ConfigError("--every", value, "a positive number of days like 7d or 2w")
    return int(m.group(1)) * (7 if m.group(2) == "w" else 1)


@click.command("replay")
@click.option(
    "--from",
    "start",
    default="2022-01-01",
    show_default=True,
    help="First decision day (ISO).",
)
@click.option(
    "--every", default="7d", show_default=True, help="Days between decisions (7d, 2w)."
)
@click.option(
    "--n-estimators",
    type=int,
    default=None,
    help="Boosting rounds per refit [default: BVP_MONITORING__REPLAY_N_ESTIMATORS or 100].",
)
@click.option(
    "--stride",
    type=int,
    default=None,
    help="Keep every N-th origin and horizon when fitting [default: 3].",
)
@click.option(
    "--rule", default=None, help="Retrain rule [default: BVP_MONITORING__RULE]."
)
def replay(
    start: str,
    every: str,
    n_estimators: int | None,
    stride: int | None,
    rule: str | None,
) -> None:
    """Replay monitoring decisions on the bundled data; writes <home>/reports/replay.{csv,png}."""
    import tempfile
    from pathlib import Path

    import pandas as pd

    from ml.labels import check_thresholds
    from ml.panel import build_panel
    from ml.replay import ReplayConfig, with_overrides
    from pipelines.replay_report import write_replay
    from pipelines.steps import fetch_candles

    s = Settings()
    m = s.monitoring
    try:
        days = parse_every(every)
        gate_days = (m.gate_days // days) * days or days
        cfg = with_overrides(
            ReplayConfig(), start=start, every_days=days, window_days=m.window_days,
            gate_days=gate_days, rule=rule or m.rule, min_skill=m.min_skill,
            severe_skill=m.severe_skill, min_label_days=m.min_label_days,
            drift_share=m.drift_share, drift_threshold=m.drift_threshold,
            gate_test=m.gate_test, alpha=m.alpha, stride=stride or m.replay_stride,
            n_estimators=n_estimators or m.replay_n_estimators, seed=s.train.seed,
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            src = "file" if s.data.daily_path else "bundled"
            fetch_candles(src, Path(tmp) / "d.parquet", Path(tmp) / "h.parquet",
                          str(s.data.daily_path or ""), str(s.data.h4_path or ""))  # fmt: skip
            d, h = (
                pd.read_parquet(Path(tmp) / "d.parquet"),
                pd.read_parquet(Path(tmp) / "h.parquet"),
            )
        panel = build_panel(d, h if len(h) and s.data.use_4h else None,
                            check_thresholds(s.target.thresholds))  # fmt: skip
        with click.progressbar(length=1, label="replay") as bar:

            def tick(k: int, n: int) -> None:
                bar.length = n
                bar.update(1)

            out = write_replay(panel, cfg, s.home / "reports", progress=tick)
    except BVPError as exc:  # the library calls it start; the user typed --from
        message = str(exc)
        if getattr(exc, "column", None) == "start":
            message = "--from" + message.removeprefix("start")
        raise click.ClickException(message) from exc
    for key, value in out.items():
        click.echo(
            f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}"
        )
