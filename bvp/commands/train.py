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
        before = _registered_versions(s)
        version, ran = ensure_champion(s, force=retrain, echo=click.echo, **overrides)
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc
    if not ran:
        how = "unchanged, skipped"
    elif version in before:  # --retrain on inputs a version already has
        how = (
            f"retrained; same data, spec, thresholds and code as the registered v{version}: "
            "no new version"
        )
    else:
        how = "trained"
    click.echo(f"champion: {s.mlflow.model_name} v{version} ({how})")


def _registered_versions(s: Settings) -> set[str]:
    """Versions of the model registered so far (none before the first run)."""
    from pipelines.promotion import list_versions

    return {r["version"] for r in list_versions(s.tracking_uri, s.mlflow.model_name)}
