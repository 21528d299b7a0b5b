"""``bvp serve`` and ``bvp ui``: run one server in the foreground."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from ml.errors import BVPError
from ml.settings import Settings


@click.group("serve", invoke_without_command=True)
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Serve the champion with MLServer (V2 protocol) in the foreground."""
    if ctx.invoked_subcommand is not None:
        return
    from serving.champion import fetch_champion
    from serving.model_repo import prepare_repository

    s = Settings()
    try:
        booster, info = fetch_champion(s)
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc
    repo = prepare_repository(
        s, booster, info["version"], {"run_id": info["run_id"] or ""}
    )
    click.echo(
        f"serving {s.mlflow.model_name} v{info['version']} from {repo} on {s.predictor_url}"
    )
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    exe = shutil.which("mlserver", path=str(Path(sys.executable).parent)) or "mlserver"
    os.execv(exe, [exe, "start", str(repo)])


@serve.command("reload")
@click.option(
    "--watch", "interval", type=float, default=None, metavar="INTERVAL",
    help="Keep polling the champion alias every INTERVAL seconds instead of checking once.",
)  # fmt: skip
def reload(interval: float | None) -> None:
    """Load the current champion into the running MLServer if the alias moved (no restart)."""
    from serving.reload import reload_champion, watch

    s = Settings()
    if interval is not None:
        from bvp.logs import configure_logging

        configure_logging(s)
        click.echo(
            f"watching {s.mlflow.model_name}@{s.mlflow.champion_alias} every {interval:g} s"
        )
        watch(s, interval)
        return
    try:
        version, moved = reload_champion(s)
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{'reloaded' if moved else 'already serving'} {s.mlflow.model_name} v{version}"
    )


@click.command("ui")
def ui() -> None:
    """Run the Gradio UI in the foreground."""
    from ui.__main__ import main

    main()
