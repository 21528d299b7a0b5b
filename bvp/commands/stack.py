"""``bvp up`` / ``bvp down`` / ``bvp status``: the local product in one command."""

from __future__ import annotations

import click

from ml.errors import BVPError
from ml.settings import Settings


def _settings() -> Settings:
    from bvp.logs import configure_logging

    s = Settings()
    configure_logging(s)
    return s


@click.command("up")
@click.option(
    "--retrain",
    is_flag=True,
    help="Run the training pipeline even if the champion matches the inputs.",
)
def up(retrain: bool) -> None:
    """Train (if inputs changed), register, serve the champion and start the UI."""
    from bvp.stack import ensure_champion, start_mlserver, start_transformer, start_ui

    s = _settings()
    try:
        click.echo(
            f"[1/4] champion: checking {s.mlflow.model_name}@{s.mlflow.champion_alias} against the bundled data ..."
        )
        version, trained = ensure_champion(s, force=retrain, echo=click.echo)
        click.echo(
            f"      {'trained and registered' if trained else 'up to date:'} version {version}"
        )
        click.echo("[2/4] starting MLServer ...")
        url, served = start_mlserver(s)
        click.echo("[3/4] starting the transformer ...")
        t_url = start_transformer(s)
        click.echo("[4/4] starting the UI ...")
        ui_url = start_ui(s)
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc
    name = s.mlflow.model_name
    click.echo(
        f"\nReady.\n  UI:        {ui_url}\n  Forecasts: POST {t_url}/v1/models/{name}:predict"
        f' {{"asof": "YYYY-MM-DD"}}'
        f' (other cut points: {{"asof": "YYYY-MM-DD", "thresholds": [0.3, 0.6]}})\n  MLServer:  {url}/v2/models/{name} (version {served})\n'
        f"  MLflow:    {s.tracking_uri}  (browse: .venv/bin/mlflow ui --backend-store-uri {s.tracking_uri})\n"
        f"  Logs:      {s.home / 'logs'}\n  Stop with: make down"
    )


@click.command("down")
def down() -> None:
    """Stop the servers started by `bvp up`."""
    from bvp.stack import stop_all

    stopped = stop_all(_settings())
    click.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@click.command("status")
def status() -> None:
    """Show which local servers run and which model is champion."""
    from bvp.stack import SERVERS
    from pipelines.tracking import resolve_alias
    from serving.processes import pid_of
    from serving.reload import served_version

    s = _settings()
    for name in SERVERS:
        pid = pid_of(s.home, name)
        click.echo(
            f"{name:12s} {'running (pid ' + str(pid) + ')' if pid else 'stopped'}"
        )
    champion = None
    try:
        info = resolve_alias(
            s.tracking_uri, s.mlflow.model_name, s.mlflow.champion_alias
        )
        champion = str(info["version"])
        click.echo(f"champion     {info['name']} v{champion} run {info['run_id']}")
    except BVPError as exc:
        click.echo(f"champion     none ({exc})")
    served = served_version(s)
    if served is None:
        click.echo("served       none (no MLServer repository yet: bvp up)")
    elif champion is not None and served != champion:
        click.echo(f"served       v{served}, not the champion: `bvp serve reload` serves "
                   f"v{champion}")  # fmt: skip
    else:
        click.echo(f"served       v{served}")
