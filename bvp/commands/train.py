"""``bvp train``: the training pipeline's steps in-process (no KFP), same code."""

from __future__ import annotations

import click

from ml.errors import BVPError
from ml.settings import Settings


@click.command("train")
@click.option(
    "--retrain",
    is_flag=True,
    help="Train even if the champion already matches data, spec and code.",
)
@click.option(
    "--baselines",
    default=None,
    help="Comma-separated baselines to evaluate (default: all).",
)
def train(retrain: bool, baselines: str | None) -> None:
    """Train, evaluate walk-forward and register the model (kfp.local pipeline run)."""
    from bvp.logs import configure_logging
    from bvp.stack import ensure_champion

    s = Settings()
    configure_logging(s)
    overrides = {} if baselines is None else {"baselines": baselines}
    try:
        version, ran = ensure_champion(s, force=retrain, echo=click.echo, **overrides)
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"champion: {s.mlflow.model_name} v{version} ({'trained' if ran else 'unchanged, skipped'})"
    )
